//! Who is asking, in the types. A [`Session`] is a user the control plane authenticated: only
//! [`Control::login`](crate::Control::login) and [`Control::session`](crate::Control::session)
//! make one, and every method that acts for a user takes one. So no caller (the web app, the
//! demo, a test) can act as a user it did not log in as, and the roles a method checks are the
//! roles the database granted, not the ones a caller wrote down.

use std::ops::Deref;

use mandat_law::Actor;

/// An authenticated user. It has no public constructor and cannot be deserialised; it reads as
/// the [`Actor`] it stands for, so the pure rules of `mandat-law` apply to it unchanged.
///
/// Outside this crate nobody can write one down:
///
/// ```compile_fail
/// let admin = mandat_law::Actor::new("admin", &[mandat_law::Role::Admin]);
/// let forged = mandat_control::Session { actor: admin };
/// ```
///
/// nor read one from a request or a file:
///
/// ```compile_fail
/// let forged: mandat_control::Session =
///     serde_json::from_str(r#"{"actor":{"user":"admin","roles":["admin"],"agency":"polismyndigheten"}}"#)
///         .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    actor: Actor,
}

impl Session {
    /// Only the control plane vouches for a user.
    pub(crate) fn vouch(actor: Actor) -> Self {
        Self { actor }
    }

    /// The user, their roles and agency, as the store holds them.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl Deref for Session {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.actor
    }
}

/// The key holder: whoever holds this database's master key file (`mandat init`, the demo, a
/// test fixture). Only they provision accounts with roles in force, without a second admin; the
/// web app never holds the key, so it cannot make one. Made by
/// [`Control::key_holder`](crate::Control::key_holder).
#[derive(Debug)]
pub struct KeyHolder {
    /// The control plane the key was shown to: the proof counts there only.
    instance: u64,
}

impl KeyHolder {
    pub(crate) fn proven(instance: u64) -> Self {
        Self { instance }
    }

    /// Whether this proof was made on the control plane numbered `instance`.
    pub(crate) fn holds_for(&self, instance: u64) -> bool {
        self.instance == instance
    }
}
