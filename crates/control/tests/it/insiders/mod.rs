//! The tests an insider would write to break mandat's promises: an admin who wants every role, a
//! guesser with fifty parallel requests, a shell user who sets the clock back, a DBA who cuts the
//! newest entries off the audit log, a process started under a friendlier jurisdiction profile.
//! Each runs on SQLite and, in `./test.sh`, on PostgreSQL.

use crate::common::*;
use mandat_audit::Verdict;
use mandat_control::{Control, ControlError, ScopeSource};
use mandat_law::{Outcome, Purpose, Role, SWEDEN, SWEDEN_COURT_FOR_ALL};

fn code(e: ControlError) -> String {
    e.code().to_string()
}

#[tokio::test]
async fn an_admin_cannot_make_an_account_that_is_also_a_reviewer() {
    for db in databases() {
        let e = env(db).await;
        for roles in [
            vec![Role::Admin, Role::Reviewer],
            vec![Role::Reviewer, Role::Admin],
            vec![Role::Admin, Role::Judge, Role::Operator],
        ] {
            let err = e
                .control
                .create_account(
                    &e.act(&admin()),
                    "sock-puppet",
                    &roles,
                    mandat_law::permit::Agency::Polismyndigheten,
                    ORIGIN,
                )
                .await
                .unwrap_err();
            assert_eq!(code(err), "admin_alone", "{db:?} {roles:?}");
        }
        assert!(
            e.store
                .users()
                .await
                .unwrap()
                .iter()
                .all(|u| u.user != "sock-puppet"),
            "{db:?}: nothing was stored"
        );
        // Nor at bootstrap: the first admin is an admin only.
        let fresh = env(db).await;
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_url(db, dir.path()).await;
        let store = open(&url, &fresh.master_hex, fresh.audit_bytes, dir.path()).await;
        let c = Control::new(store, fresh.clock.clone(), &SWEDEN);
        // Only the holder of this database's master key provisions: another key proves nothing.
        let err = c
            .key_holder(&mandat_store::SecretKey::random().unwrap())
            .unwrap_err();
        assert_eq!(code(err), "refused", "{db:?}");
        let holder = c
            .key_holder(&mandat_store::SecretKey::from_hex(&fresh.master_hex, "k").unwrap())
            .unwrap();
        let err = c
            .provision_user(
                &holder,
                "root",
                &password("root"),
                &[Role::Admin, Role::Reviewer],
                ORIGIN,
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "admin_alone");
    }
}

#[tokio::test]
async fn fifty_parallel_wrong_passwords_do_not_escape_the_back_off() {
    for db in databases() {
        let e = env(db).await;
        let before = e.store.audit_log().await.unwrap().0.len();
        let guesses: Vec<String> = (0..50).map(|i| format!("guess {i}")).collect();
        let tries = guesses
            .iter()
            .map(|g| e.control.login("rev", g, "000000", "api:192.0.2.7"));
        let answers = futures::future::join_all(tries).await;
        let checked = answers
            .iter()
            .filter(|r| matches!(r, Err(err) if err.code() == "unauthenticated"))
            .count();
        let waited = answers
            .iter()
            .filter(|r| matches!(r, Err(err) if err.code() == "throttled"))
            .count();
        assert_eq!(checked + waited, 50, "{db:?}: every guess failed");
        // The count is taken inside the transaction before the password is checked, so only the
        // free attempts and the one that started the back-off were ever compared.
        assert_eq!(
            checked as i64,
            mandat_store::FREE_LOGIN_FAILURES + 1,
            "{db:?}: {checked} guesses were checked"
        );
        let (log, _) = e.store.audit_log().await.unwrap();
        let failed = log[before..]
            .iter()
            .filter(|x| x.action == "auth.failed")
            .count();
        assert_eq!(failed, checked, "{db:?}: every checked guess is in the log");
        // The right password from the same network waits too; the reviewer at their own desk
        // (another network) is not locked out by the guesser.
        let err = e
            .control
            .login("rev", &password("rev"), &e.otp_now("rev"), "api:192.0.2.7")
            .await
            .unwrap_err();
        assert_eq!(code(err), "throttled");
        e.control
            .login(
                "rev",
                &password("rev"),
                &e.otp_now("rev"),
                "api:198.51.100.20",
            )
            .await
            .unwrap();
        // IPv6 counts per /64: a fresh address in the same /64 is the same guesser.
        for i in 0..=mandat_store::FREE_LOGIN_FAILURES {
            let _ = e
                .control
                .login(
                    "rev",
                    "guess",
                    "000000",
                    &format!("api:2001:db8:7:7::{i:x}"),
                )
                .await;
        }
        let err = e
            .control
            .login(
                "rev",
                &password("rev"),
                &e.otp_now("rev"),
                "api:2001:db8:7:7:ffff::1",
            )
            .await
            .unwrap_err();
        assert_eq!(code(err), "throttled", "{db:?}: same /64");
    }
}

#[tokio::test]
async fn an_unknown_name_and_a_backed_off_account_answer_alike_and_typed_names_stay_out_of_the_log()
{
    for db in databases() {
        let e = env(db).await;
        // A password typed into the user field by mistake.
        let typo = "Sommar2026!hemligt";
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..=mandat_store::FREE_LOGIN_FAILURES + 1 {
            known.push(code(
                e.control
                    .login("officer", "wrong", "000000", ORIGIN)
                    .await
                    .unwrap_err(),
            ));
            unknown.push(code(
                e.control
                    .login(typo, "wrong", "000000", ORIGIN)
                    .await
                    .unwrap_err(),
            ));
        }
        assert_eq!(
            known, unknown,
            "{db:?}: the answers tell who has an account"
        );
        assert_eq!(known.last().unwrap(), "throttled");
        let (entries, _) = e.store.audit_log().await.unwrap();
        let text = serde_json::to_string(&entries).unwrap();
        assert!(!text.contains(typo), "{db:?}: a typed name reached the log");
        assert!(
            entries
                .iter()
                .any(|x| x.action == "auth.failed" && x.actor == "unknown")
        );
        // Nor the database: the back-off rows are keyed by a keyed hash.
        let pool = raw_pool(&e.url).await;
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM login_throttle")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        assert!(
            keys.iter()
                .all(|k| !k.contains(typo) && !k.contains("officer"))
        );
    }
}

#[tokio::test]
async fn a_clock_set_back_stops_the_server_from_acting_and_matching() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        e.clock.advance(3_600_000);
        e.control.tick(ORIGIN).await.unwrap();
        assert!(!e.scope.watchlist("cam-1").is_empty());
        let (entries, _) = e.store.audit_log().await.unwrap();
        let newest = entries.last().unwrap().at;
        // The shell user turns the clock back two hours, into the permit's period.
        e.clock
            .set(Some(mandat_law::Timestamp(newest - 2 * 3_600_000)));
        assert_eq!(
            code(e.control.tick(ORIGIN).await.unwrap_err()),
            "clock_behind"
        );
        assert_eq!(
            code(
                e.control
                    .stop(&e.act(&officer()), &id, "x", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "clock_behind"
        );
        assert_eq!(
            code(
                e.control
                    .login("officer", &password("officer"), "000000", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "clock_behind"
        );
        assert!(
            e.scope.watchlist("cam-1").is_empty(),
            "{db:?}: nothing is matched while the clock is behind"
        );
        // A restarted process knows the high-water mark from the log itself.
        let again = open(&e.url, &e.master_hex, e.audit_bytes, e.dir.path()).await;
        let err = again
            .check_clock(mandat_law::Timestamp(newest - 60_000))
            .unwrap_err();
        assert!(
            err.to_string().contains("behind the newest audit entry"),
            "{err}"
        );
        // Time within the tolerance (two requests racing) is fine, and the log stays in order.
        e.clock.set(Some(mandat_law::Timestamp(newest - 1_000)));
        e.control.tick(ORIGIN).await.unwrap();
        e.control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        let (entries, _) = e.store.audit_log().await.unwrap();
        assert!(entries.windows(2).all(|w| w[0].at <= w[1].at));
        e.clock.advance(1_000);
        assert!(!e.scope.watchlist("cam-1").is_empty());
    }
}

#[tokio::test]
async fn cutting_the_newest_entries_and_their_checkpoints_is_caught_against_the_anchor() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        // The use starts: its IMY notification carries the chain head, which IMY keeps.
        e.control.tick(ORIGIN).await.unwrap();
        let reg = e
            .control
            .imy_notifications(&e.act(&auditor()))
            .await
            .unwrap();
        let from_imy = reg[0].notification.audit_anchor.clone().expect("anchored");
        e.control
            .stop(&e.act(&officer()), &id, "found", ORIGIN)
            .await
            .unwrap();
        let anchor = e.store.audit_head().await.unwrap().unwrap();
        let key = mandat_audit::parse_public_key(&e.store.audit_public_key()).unwrap();
        let (entries, cps) = mandat_store::read_audit_log(&e.url).await.unwrap();
        assert!(matches!(
            mandat_audit::verify_anchored(&entries, &cps, &key, std::slice::from_ref(&anchor)),
            Verdict::Intact { .. }
        ));
        let imy_anchor = mandat_audit::Checkpoint {
            seq: from_imy.seq,
            hash: from_imy.hash,
            at: from_imy.at,
            key: from_imy.key,
            signature: from_imy.signature,
        };
        assert!(matches!(
            mandat_audit::verify_anchored(&entries, &cps, &key, &[imy_anchor]),
            Verdict::Intact { .. }
        ));

        // The DBA deletes the newest three entries and their checkpoints (the stop, its IMY
        // follow-up, ...).
        let pool = raw_pool(&e.url).await;
        let last = anchor.seq as i64;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM audit_log WHERE seq > {}",
            last - 3
        )))
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM audit_checkpoints WHERE seq > {}",
            last - 3
        )))
        .execute(&pool)
        .await
        .unwrap();
        let (entries, cps) = mandat_store::read_audit_log(&e.url).await.unwrap();
        // On its own, what is left still verifies: that is why the anchor lives elsewhere.
        assert!(
            matches!(
                mandat_audit::verify(&entries, &cps, &key),
                Verdict::Intact { .. }
            ),
            "{db:?}"
        );
        match mandat_audit::verify_anchored(&entries, &cps, &key, std::slice::from_ref(&anchor)) {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, anchor.seq, "{db:?}");
                assert!(reason.contains("missing"), "{reason}");
            }
            v => panic!("{db:?}: the cut went unnoticed: {v:?}"),
        }
    }
}

#[tokio::test]
async fn a_process_on_another_profile_is_refused_and_permits_keep_their_own() {
    for db in databases() {
        let e = env(db).await;
        // An installation from before profiles were stored: its permits tell which profile it ran.
        drafted(&e, Purpose::VictimSearch, &officer()).await;
        let err = e.store.bind_profile("se-court-for-all").await.unwrap_err();
        assert!(
            err.to_string().contains("was drafted under"),
            "{db:?}: {err}"
        );
        e.store.bind_profile("se-2026").await.unwrap();
        e.store.bind_profile("se-2026").await.unwrap();
        // A second process (the prosecutor's shell) under the reform, where only courts decide.
        let other = open(&e.url, &e.master_hex, e.audit_bytes, e.dir.path()).await;
        let err = other.bind_profile("se-court-for-all").await.unwrap_err();
        assert!(
            err.to_string().contains("se-2026") && err.to_string().contains("refuses"),
            "{db:?}: {err}"
        );
        assert_eq!(
            e.store.stored_profile().await.unwrap().as_deref(),
            Some("se-2026")
        );
        // Even a control plane built on the wrong profile (a process that skipped the check)
        // follows each permit's own: a victim search drafted under se-2026 is a prosecutor's.
        let id = drafted(&e, Purpose::VictimSearch, &officer()).await;
        let wrong = Control::new(other.clone(), e.clock.clone(), &SWEDEN_COURT_FOR_ALL);
        // It is filed to the prosecutor its own profile names, which that plane accepts; a judge
        // is not on the team and finds nothing.
        wrong.apply(&e.act(&officer()), &id, ORIGIN).await.unwrap();
        let err = wrong
            .decide(&e.act(&judge()), &id, Outcome::Grant, "ok", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_found", "{db:?}");
        wrong
            .decide(&e.act(&pros()), &id, Outcome::Grant, "ok", ORIGIN)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_and_its_sessions_end() {
    for db in databases() {
        let e = env(db).await;
        let (_, token) = e
            .control
            .login("rev", &password("rev"), &e.otp("rev"), ORIGIN)
            .await
            .unwrap();
        let err = e
            .control
            .disable_user(&e.act(&reviewer()), "officer", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted");
        let err = e
            .control
            .disable_user(&e.act(&admin()), "admin", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "invalid", "no admin disables themselves");
        e.control
            .disable_user(&e.act(&admin()), "rev", ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            code(e.control.session(&token).await.unwrap_err()),
            "unauthenticated"
        );
        // The right password answers as a wrong one would.
        assert_eq!(
            code(
                e.control
                    .login("rev", &password("rev"), &e.otp("rev"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated"
        );
        let users = e.control.users(&e.act(&admin())).await.unwrap();
        assert!(
            users
                .iter()
                .any(|u| u.user == "rev" && u.disabled_at.is_some())
        );
        // Revoking sessions leaves the account usable.
        let (_, t) = e
            .control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            e.control
                .revoke_sessions(&e.act(&admin()), "officer", ORIGIN)
                .await
                .unwrap(),
            2,
            "the fixture's session and this one"
        );
        assert!(e.control.session(&t).await.is_err());
        e.control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        let log = e.control.audit_log(&e.act(&auditor())).await.unwrap();
        assert!(log.iter().any(|x| x.action == "user.disable"));
        assert!(log.iter().any(|x| x.action == "session.revoke"));
    }
}

#[tokio::test]
async fn a_dba_who_edits_an_account_or_forges_a_session_gets_nothing() {
    for db in databases() {
        let e = env(db).await;
        let (_, token) = e
            .control
            .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
            .await
            .unwrap();
        let pool = raw_pool(&e.url).await;
        // The DBA makes the officer a reviewer too.
        sqlx::query("UPDATE users SET roles = 'applicant,reviewer' WHERE id = 'officer'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            code(e.control.session(&token).await.unwrap_err()),
            "unauthenticated",
            "{db:?}: an edited account keeps its session"
        );
        assert_eq!(
            code(
                e.control
                    .login("officer", &password("officer"), &e.otp("officer"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: an edited account logs in"
        );
        // Or puts a password of their own on the judge's account.
        let hash = mandat_store::hash_password("the dba's own password").unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET password_hash = '{hash}' WHERE id = 'judge'"
        )))
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(
            code(
                e.control
                    .login("judge", "the dba's own password", &e.otp("judge"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated"
        );
        // Or writes a session row for the reviewer, with a token they know.
        use sha2::Digest;
        let forged = "00".repeat(32);
        let digest = hex::encode(sha2::Sha256::digest(forged.as_bytes()));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ('{digest}', 'rev', 0, 9999999999999)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        assert!(e.control.session(&forged).await.is_err(), "{db:?}");
        // Untouched accounts work as before.
        e.control
            .login("rev", &password("rev"), &e.otp("rev"), ORIGIN)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_user_of_one_agency_never_sees_the_other_agencys_permits() {
    use mandat_law::permit::Agency;
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        let sapo = |user: &str, role: Role| {
            mandat_law::Actor::new(user, &[role]).in_agency(Agency::Sakerhetspolisen)
        };
        for (user, role) in [
            ("s-op", Role::Operator),
            ("s-rev", Role::Reviewer),
            ("s-app", Role::Applicant),
            ("s-pros", Role::Prosecutor),
            ("s-judge", Role::Judge),
            ("s-aud", Role::Auditor),
        ] {
            let secret = e
                .control
                .provision_user_in(
                    &e.key_holder(),
                    user,
                    &password(user),
                    &[role],
                    Agency::Sakerhetspolisen,
                    ORIGIN,
                )
                .await
                .unwrap();
            e.remember(user, secret);
            // The session says which agency the account works for.
            let (actor, _) = e
                .control
                .login(user, &password(user), &e.otp(user), ORIGIN)
                .await
                .unwrap();
            assert_eq!(actor.actor(), &sapo(user, role));
            mandat_testkit::keep(&e.control, &actor);
            assert!(
                e.control.permits(&actor, ORIGIN).await.unwrap().is_empty(),
                "{db:?} {user}"
            );
            assert_eq!(
                code(e.control.permit(&actor, &id, ORIGIN).await.unwrap_err()),
                "not_found",
                "{db:?} {user}"
            );
            if mandat_law::permissions::may(&actor, mandat_law::permissions::Action::ReadAlerts) {
                assert!(
                    e.control
                        .alerts(&actor, 0, 100, ORIGIN)
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert_eq!(
                    code(e.control.alert(&actor, "A-1", ORIGIN).await.unwrap_err()),
                    "not_found"
                );
            }
            let ev = e
                .control
                .alert(&e.act(&officer()), "A-1", ORIGIN)
                .await
                .unwrap();
            let ev = mandat_control::AlertEvent::from_record(&ev);
            assert!(!e.control.sees_event(&actor, &ev).await, "{db:?} {user}");
        }
        // The officer of this agency does see it, and its event.
        let ev = mandat_control::AlertEvent::from_record(
            &e.control
                .alert(&e.act(&officer()), "A-1", ORIGIN)
                .await
                .unwrap(),
        );
        assert!(e.control.sees_event(&e.act(&officer()), &ev).await);
        // Acting on another agency's ids answers as for ids that do not exist.
        let r = sapo("s-rev", Role::Reviewer);
        for err in [
            e.control
                .alert_media(&e.act(&sapo("s-judge", Role::Judge)), "A-1", ORIGIN)
                .await
                .unwrap_err(),
            e.control
                .review(
                    &e.act(&r),
                    "A-1",
                    mandat_law::review::Verdict::Confirm,
                    "",
                    ORIGIN,
                )
                .await
                .unwrap_err(),
            e.control
                .dispatch(&e.act(&sapo("s-op", Role::Operator)), "A-1", "", ORIGIN)
                .await
                .unwrap_err(),
            e.control
                .stop(
                    &e.act(&sapo("s-app", Role::Applicant)),
                    &id,
                    "mine now",
                    ORIGIN,
                )
                .await
                .unwrap_err(),
        ] {
            assert_eq!(code(err), "not_found", "{db:?}");
        }
        // Nor may one agency apply in the other's name.
        let mut app = application(Purpose::VictimSearch);
        app.agency = Agency::Polismyndigheten;
        let err = e
            .control
            .draft(&e.act(&sapo("s-app", Role::Applicant)), app, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "agency");
        assert_eq!(
            e.control
                .permit(&e.act(&officer()), &id, ORIGIN)
                .await
                .unwrap()
                .status,
            mandat_law::Status::Granted,
            "nothing of it changed"
        );
    }
}

/// Need-to-know within an agency: a reviewer, an operator and a prosecutor who are not on a
/// permit's team find nothing of it, not its alerts, images, reference photo or events; the
/// applicant's assignment lets one in (and is audited with the team that results), taking them
/// off shuts the door again, and every read is in the log.
#[tokio::test]
async fn a_reviewer_outside_a_permits_team_finds_nothing_of_it() {
    for db in databases() {
        let e = env(db).await;
        for (user, role) in [
            ("rev9", Role::Reviewer),
            ("op9", Role::Operator),
            ("pros9", Role::Prosecutor),
        ] {
            e.provision(user, &[role]).await;
        }
        let outsider = mandat_law::Actor::new("rev9", &[Role::Reviewer]);
        let op = mandat_law::Actor::new("op9", &[Role::Operator]);
        let pros9 = mandat_law::Actor::new("pros9", &[Role::Prosecutor]);
        let id = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        let ev = mandat_control::AlertEvent::from_record(
            &e.control
                .alert(&e.act(&officer()), "A-1", ORIGIN)
                .await
                .unwrap(),
        );
        let shut_out = |who: &mandat_law::Actor| {
            let (e, id, ev, who) = (&e, &id, &ev, who.clone());
            async move {
                assert!(
                    e.control
                        .permits(&e.act(&who), ORIGIN)
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(
                    e.control
                        .alerts(&e.act(&who), 0, 100, ORIGIN)
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(!e.control.sees_event(&e.act(&who), ev).await);
                let mut errs = vec![
                    e.control
                        .permit(&e.act(&who), id, ORIGIN)
                        .await
                        .unwrap_err(),
                    e.control
                        .alert(&e.act(&who), "A-1", ORIGIN)
                        .await
                        .unwrap_err(),
                ];
                if who.has(Role::Reviewer) || who.has(Role::Prosecutor) {
                    errs.push(
                        e.control
                            .alert_media(&e.act(&who), "A-1", ORIGIN)
                            .await
                            .unwrap_err(),
                    );
                    errs.push(
                        e.control
                            .alert_reference(&e.act(&who), "A-1", ORIGIN)
                            .await
                            .unwrap_err(),
                    );
                }
                if who.has(Role::Reviewer) {
                    errs.push(
                        e.control
                            .review(
                                &e.act(&who),
                                "A-1",
                                mandat_law::review::Verdict::Confirm,
                                "",
                                ORIGIN,
                            )
                            .await
                            .unwrap_err(),
                    );
                }
                if who.has(Role::Operator) {
                    errs.push(
                        e.control
                            .dispatch(&e.act(&who), "A-1", "", ORIGIN)
                            .await
                            .unwrap_err(),
                    );
                }
                if who.has(Role::Prosecutor) {
                    errs.push(
                        e.control
                            .stop(&e.act(&who), id, "mine now", ORIGIN)
                            .await
                            .unwrap_err(),
                    );
                }
                for err in errs {
                    assert_eq!(code(err), "not_found", "{}", who.user);
                }
            }
        };
        for who in [&outsider, &op, &pros9] {
            shut_out(who).await;
        }
        // Only the applicant assigns; the reviewer cannot put themselves on the team.
        let err = e
            .control
            .assign_team(&e.act(&outsider), &id, "rev9", Some(Role::Reviewer), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted", "{db:?}");
        let err = e
            .control
            .assign_team(&e.act(&pros()), &id, "rev9", Some(Role::Reviewer), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(
            code(err),
            "team",
            "{db:?}: the decider is not the applicant"
        );
        // Nor can one be put on it in a role one does not hold.
        let err = e
            .control
            .assign_team(&e.act(&officer()), &id, "op9", Some(Role::Reviewer), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "team", "{db:?}");
        e.control
            .assign_team(
                &e.act(&officer()),
                &id,
                "rev9",
                Some(Role::Reviewer),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(
            e.control
                .alerts(&e.act(&outsider), 0, 100, ORIGIN)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(e.control.sees_event(&e.act(&outsider), &ev).await);
        e.control
            .alert(&e.act(&outsider), "A-1", ORIGIN)
            .await
            .unwrap();
        e.control
            .alert_media(&e.act(&outsider), "A-1", ORIGIN)
            .await
            .unwrap();
        // Off the team, the door shuts at once.
        e.control
            .assign_team(&e.act(&officer()), &id, "rev9", None, ORIGIN)
            .await
            .unwrap();
        shut_out(&outsider).await;
        // On the team as an operator is not as a reviewer, whatever else the account holds; an
        // auditor who is also a reviewer reads every permit of the agency but sees no face.
        for (user, roles) in [
            ("both9", vec![Role::Operator, Role::Reviewer]),
            ("audrev9", vec![Role::Auditor, Role::Reviewer]),
        ] {
            e.provision(user, &roles).await;
        }
        e.control
            .assign_team(
                &e.act(&officer()),
                &id,
                "both9",
                Some(Role::Operator),
                ORIGIN,
            )
            .await
            .unwrap();
        let both = mandat_law::Actor::new("both9", &[Role::Operator, Role::Reviewer]);
        let audrev = mandat_law::Actor::new("audrev9", &[Role::Auditor, Role::Reviewer]);
        assert_eq!(
            e.control
                .alerts(&e.act(&audrev), 0, 10, ORIGIN)
                .await
                .unwrap()
                .len(),
            1
        );
        for err in [
            e.control
                .review(
                    &e.act(&both),
                    "A-1",
                    mandat_law::review::Verdict::Confirm,
                    "",
                    ORIGIN,
                )
                .await
                .unwrap_err(),
            e.control
                .alert_media(&e.act(&both), "A-1", ORIGIN)
                .await
                .unwrap_err(),
            e.control
                .review(
                    &e.act(&audrev),
                    "A-1",
                    mandat_law::review::Verdict::Confirm,
                    "",
                    ORIGIN,
                )
                .await
                .unwrap_err(),
            e.control
                .alert_media(&e.act(&audrev), "A-1", ORIGIN)
                .await
                .unwrap_err(),
            e.control
                .alert_reference(&e.act(&audrev), "A-1", ORIGIN)
                .await
                .unwrap_err(),
        ] {
            assert_eq!(code(err), "team", "{db:?}");
        }
        // The log shows who changed the team, to what, and every read.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let team: Vec<_> = entries
            .iter()
            .filter(|x| x.action == "permit.team")
            .collect();
        assert_eq!(
            team.len(),
            2 + 3,
            "{db:?}: two from the fixture, three here"
        );
        let added = &team[2];
        assert_eq!(added.actor, "officer");
        assert!(
            added.details["team"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user"] == "rev9" && m["role"] == "reviewer"),
            "{}",
            added.details
        );
        assert!(
            !team[3].details["team"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user"] == "rev9")
        );
        for action in ["read.alerts", "read.alert", "alert.view_media"] {
            assert!(
                entries
                    .iter()
                    .any(|x| x.action == action && x.actor == "rev9"),
                "{db:?}: no {action} by rev9"
            );
        }
    }
}

/// `by` makes an account of Polismyndigheten asking for `roles`.
async fn account(
    e: &Env,
    by: &mandat_law::Actor,
    user: &str,
    roles: &[Role],
) -> mandat_store::Enrolment {
    e.control
        .create_account(
            &e.act(by),
            user,
            roles,
            mandat_law::permit::Agency::Polismyndigheten,
            ORIGIN,
        )
        .await
        .unwrap()
}

/// Enrol `user` with `code` and remember the second factor the answer gives.
async fn enrol(e: &Env, user: &str, code: &str) {
    let f = e
        .control
        .enrol_account(user, code, &password(user), ORIGIN)
        .await
        .unwrap();
    assert!(f.otpauth_url.starts_with("otpauth://totp/"));
    e.remember(user, f.totp_secret);
}

#[tokio::test]
async fn a_reviewer_role_granted_by_one_admin_alone_does_not_take_effect() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        let made = account(&e, &admin(), "newrev", &[Role::Reviewer]).await;
        let grant = made.grant.clone().expect("the role waits for approval");
        enrol(&e, "newrev", &made.enrolment_code).await;
        let (actor, token) = e
            .control
            .login("newrev", &password("newrev"), &e.otp("newrev"), ORIGIN)
            .await
            .unwrap();
        assert!(actor.roles.is_empty(), "{db:?}: no role before approval");
        assert_eq!(
            code(e.control.alerts(&actor, 0, 10, ORIGIN).await.unwrap_err()),
            "not_permitted"
        );
        // The admin who asked cannot approve, nor can the account itself.
        let err = e
            .control
            .approve_grant(&e.act(&admin()), &grant, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "refused", "{db:?}");
        let err = e
            .control
            .approve_grant(&actor, &grant, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_permitted", "{db:?}");
        assert!(e.control.session(&token).await.unwrap().roles.is_empty());
        // A DBA who edits the pending grant's roles makes it unapprovable.
        let pool = raw_pool(&e.url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE role_grants SET roles = 'reviewer,operator' WHERE id = '{grant}'"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let err = e
            .control
            .approve_grant(&e.act(&admin2()), &grant, ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "store", "{db:?}");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE role_grants SET roles = 'reviewer' WHERE id = '{grant}'"
        )))
        .execute(&pool)
        .await
        .unwrap();
        // A second admin's approval makes it real, on the open session too.
        e.control
            .approve_grant(&e.act(&admin2()), &grant, ORIGIN)
            .await
            .unwrap();
        let now = e.control.session(&token).await.unwrap();
        assert_eq!(now.roles, vec![Role::Reviewer]);
        // The role alone shows nothing: the permit's applicant puts the reviewer on its team.
        assert!(
            e.control
                .alerts(&now, 0, 10, ORIGIN)
                .await
                .unwrap()
                .is_empty()
        );
        e.control
            .assign_team(
                &e.act(&officer()),
                &id,
                "newrev",
                Some(Role::Reviewer),
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(
            e.control.alerts(&now, 0, 10, ORIGIN).await.unwrap().len(),
            1
        );
        // Adding a role to an existing account waits too; removing does not.
        let change = e
            .control
            .request_roles(
                &e.act(&admin()),
                "newrev",
                &[Role::Reviewer, Role::Operator],
                ORIGIN,
            )
            .await
            .unwrap();
        assert!(matches!(change, mandat_store::RoleChange::Pending { .. }));
        assert_eq!(
            e.control.session(&token).await.unwrap().roles,
            vec![Role::Reviewer]
        );
        let change = e
            .control
            .request_roles(&e.act(&admin()), "newrev", &[], ORIGIN)
            .await
            .unwrap();
        assert_eq!(change, mandat_store::RoleChange::Applied);
        assert!(e.control.session(&token).await.unwrap().roles.is_empty());
        assert!(
            e.control.grants(&e.act(&admin())).await.unwrap().is_empty(),
            "{db:?}: the removal withdrew the pending grant"
        );
        // No admin changes their own roles, and admin stays alone.
        assert_eq!(
            code(
                e.control
                    .request_roles(
                        &e.act(&admin()),
                        "admin",
                        &[Role::Admin, Role::Reviewer],
                        ORIGIN
                    )
                    .await
                    .unwrap_err()
            ),
            "invalid"
        );
        // Every step is in the log, with who asked and who approved.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let approve = entries
            .iter()
            .find(|x| x.action == "user.roles.approve")
            .unwrap();
        assert_eq!(approve.actor, "admin2");
        assert_eq!(approve.details["requested_by"], "admin");
    }
}

#[tokio::test]
async fn admins_hand_over_codes_and_never_know_a_password() {
    for db in databases() {
        let e = env(db).await;
        let made = account(&e, &admin(), "newop", &[Role::Operator]).await;
        // Nothing logs in before enrolment, whatever the password.
        assert_eq!(
            code(
                e.control
                    .login("newop", "", "000000", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated"
        );
        // A wrong code answers like an unknown user; the right one works once.
        for (user, c) in [
            ("newop", "AAAA-BBBB-CCCC-DDDD-EEEE"),
            ("nobody", made.enrolment_code.as_str()),
        ] {
            assert_eq!(
                code(
                    e.control
                        .enrol_account(user, c, &password(user), ORIGIN)
                        .await
                        .unwrap_err()
                ),
                "unauthenticated",
                "{db:?} {user}"
            );
        }
        // Codes are typed by people: case and dashes do not matter.
        let typed = made.enrolment_code.to_lowercase().replace('-', " ");
        enrol(&e, "newop", &typed).await;
        assert_eq!(
            code(
                e.control
                    .enrol_account("newop", &made.enrolment_code, "another password!", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: a code is used once"
        );
        // The code is nowhere in the log or the database; the password neither.
        let (entries, _) = e.store.audit_log().await.unwrap();
        let log = serde_json::to_string(&entries).unwrap();
        assert!(!log.contains(&made.enrolment_code) && !log.contains(&password("newop")));
        let pool = raw_pool(&e.url).await;
        let row: (String,) =
            sqlx::query_as("SELECT COALESCE(totp_secret, '') FROM users WHERE id = 'newop'")
                .fetch_one(&pool)
                .await
                .unwrap();
        let secret = mandat_testkit::secret(&e.control, "newop");
        assert!(!row.0.is_empty() && !row.0.contains(&secret), "sealed");
        // The user changes their own password; every session ends.
        let (actor, token) = e
            .control
            .login("newop", &password("newop"), &e.otp("newop"), ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            code(
                e.control
                    .change_password(&actor, "not my password", "a new long password", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated"
        );
        e.control
            .change_password(&actor, &password("newop"), "a new long password", ORIGIN)
            .await
            .unwrap();
        assert!(e.control.session(&token).await.is_err(), "{db:?}");
        e.control
            .login("newop", "a new long password", &e.otp("newop"), ORIGIN)
            .await
            .unwrap();
        // A new code (a lost phone) clears password and factor, and hands the roles back to a
        // second admin: the admin holding the code cannot use them alone.
        e.control
            .approve_grant(&e.act(&admin2()), &made.grant.clone().unwrap(), ORIGIN)
            .await
            .unwrap();
        let reset = e
            .control
            .reset_enrolment(&e.act(&admin()), "newop", ORIGIN)
            .await
            .unwrap();
        assert!(reset.grant.is_some());
        enrol(&e, "newop", &reset.enrolment_code).await;
        let (actor, _) = e
            .control
            .login("newop", &password("newop"), &e.otp("newop"), ORIGIN)
            .await
            .unwrap();
        assert!(
            actor.roles.is_empty(),
            "{db:?}: roles wait for approval again"
        );
        // Codes expire.
        let late = account(&e, &admin(), "late", &[]).await;
        e.clock
            .advance(mandat_store::accounts::ENROLMENT_TTL_MS + 1);
        assert_eq!(
            code(
                e.control
                    .enrol_account("late", &late.enrolment_code, &password("late"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated"
        );
    }
}

#[tokio::test]
async fn every_login_needs_a_fresh_second_factor() {
    for db in databases() {
        let e = env(db).await;
        // Right password, wrong or missing code.
        for c in ["", "000000", "12345", "abcdef"] {
            assert_eq!(
                code(
                    e.control
                        .login("rev", &password("rev"), c, ORIGIN)
                        .await
                        .unwrap_err()
                ),
                "unauthenticated",
                "{db:?} {c:?}"
            );
        }
        // A code is accepted once: an observer who replays it within its 30 s gets nothing.
        let c = e.otp("rev");
        e.control
            .login("rev", &password("rev"), &c, ORIGIN)
            .await
            .unwrap();
        assert_eq!(
            code(
                e.control
                    .login("rev", &password("rev"), &c, "api:203.0.113.9")
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: replay"
        );
        let (entries, _) = e.store.audit_log().await.unwrap();
        assert_eq!(entries.last().unwrap().details["second_factor"], "replayed");
        // A DBA who copies their own TOTP secret onto the reviewer's row gets a refused account.
        let pool = raw_pool(&e.url).await;
        sqlx::query(
            "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = 'aud') WHERE id = 'rev'",
        )
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(
            code(
                e.control
                    .login("rev", &password("rev"), &e.otp("aud"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}"
        );
    }
}

#[tokio::test]
async fn a_new_enrolment_code_withdraws_another_admins_pending_grant() {
    for db in databases() {
        let e = env(db).await;
        let made = account(&e, &admin2(), "target", &[Role::Reviewer]).await;
        enrol(&e, "target", &made.enrolment_code).await;
        // Admin takes the account over with a new code, then tries admin2's grant.
        let reset = e
            .control
            .reset_enrolment(&e.act(&admin()), "target", ORIGIN)
            .await
            .unwrap();
        assert!(reset.grant.is_none(), "the account held no role yet");
        let err = e
            .control
            .approve_grant(&e.act(&admin()), &made.grant.unwrap(), ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(code(err), "not_found", "{db:?}");
        assert!(e.control.grants(&e.act(&admin())).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_dba_who_writes_an_old_enrolment_code_back_or_stretches_one_gets_nothing() {
    for db in databases() {
        let e = env(db).await;
        let pool = raw_pool(&e.url).await;
        // A code used once, written back from a backup, with a fresh expiry.
        let made = account(&e, &admin(), "u1", &[Role::Operator]).await;
        let (old_mac, old_expiry): (String, i64) =
            sqlx::query_as("SELECT enrolment_mac, enrolment_expires_at FROM users WHERE id = 'u1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        enrol(&e, "u1", &made.enrolment_code).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET enrolment_mac = '{old_mac}', enrolment_expires_at = {} WHERE id = 'u1'",
            old_expiry + 86_400_000
        )))
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(
            code(
                e.control
                    .enrol_account("u1", &made.enrolment_code, "the insider's password", ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: an old code written back"
        );
        assert_eq!(
            code(
                e.control
                    .login("u1", &password("u1"), &e.otp("u1"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: the edited row is refused"
        );
        // A pending code whose expiry is stretched no longer works at all.
        let made = account(&e, &admin(), "u2", &[]).await;
        sqlx::query(
            "UPDATE users SET enrolment_expires_at = enrolment_expires_at + 31536000000 WHERE id = 'u2'",
        )
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(
            code(
                e.control
                    .enrol_account("u2", &made.enrolment_code, &password("u2"), ORIGIN)
                    .await
                    .unwrap_err()
            ),
            "unauthenticated",
            "{db:?}: a stretched expiry"
        );
    }
}

/// A DBA who writes an unknown profile into one permit's row stops only that permit: the start
/// of every other use is still recorded (and notified to IMY) at the next tick, and the tick
/// itself does not fail.
#[tokio::test]
async fn one_corrupt_permit_does_not_hold_back_the_others_use_events() {
    for db in databases() {
        let e = env(db).await;
        // Two permits whose periods start in an hour.
        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut app = application(Purpose::VictimSearch);
            app.period.start = t0().plus_hours(1);
            let id = e
                .control
                .draft(&e.act(&officer()), app, ORIGIN)
                .await
                .unwrap()
                .id;
            enrol_photo(&e, &officer(), &id).await;
            put_team(&e, &officer(), &id).await;
            e.control
                .apply(&e.act(&officer()), &id, ORIGIN)
                .await
                .unwrap();
            e.control
                .decide(&e.act(&pros()), &id, Outcome::Grant, "ok", ORIGIN)
                .await
                .unwrap();
            ids.push(id);
        }
        let (broken, later) = (&ids[0], &ids[1]);
        let pool = raw_pool(&e.url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE permits SET doc = REPLACE(doc, '\"profile\":\"se-2026\"', '\"profile\":\"nowhere\"') WHERE id = '{broken}'"
        )))
        .execute(&pool)
        .await
        .unwrap();
        e.clock.advance(2 * 3_600_000);
        e.control.tick(ORIGIN).await.unwrap();
        let (entries, _) = e.store.audit_log().await.unwrap();
        let started = |id: &str| {
            entries
                .iter()
                .any(|x| x.action == "use.start" && x.permit.as_deref() == Some(id))
        };
        assert!(
            started(later),
            "{db:?}: the other permit's use was not recorded"
        );
        assert!(
            !started(broken),
            "{db:?}: the corrupt permit's use was recorded"
        );
    }
}

/// A DBA edits a permit's record to put an accomplice on its team, stretch its period or copy
/// another permit's record over it: mandat refuses the record (its MAC binds it to the master key
/// and the permit's id), so nobody sees it and nobody is matched for it, while the others go on.
/// Writing the original back makes it whole again.
#[tokio::test]
async fn a_dba_who_edits_a_permits_record_gets_nothing() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        let other = granted(&e).await;
        e.provision("rev9", &[Role::Reviewer]).await;
        let rev9 = mandat_law::Actor::new("rev9", &[Role::Reviewer]);
        e.scope.reload(&e.store).await;
        assert!(!e.scope.watchlist("cam-1").is_empty(), "{db:?}");
        let pool = raw_pool(&e.url).await;
        let row = |pid: String| {
            let pool = pool.clone();
            async move {
                let r: (String, String) =
                    sqlx::query_as("SELECT doc, mac FROM permits WHERE id = $1")
                        .bind(pid)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                r
            }
        };
        let (doc, mac) = row(id.clone()).await;
        let write = |doc: String, mac: Option<String>| {
            let (pool, id) = (pool.clone(), id.clone());
            async move {
                sqlx::query("UPDATE permits SET doc = $1, mac = $2 WHERE id = $3")
                    .bind(doc)
                    .bind(mac)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        };
        let forged = [
            // rev9 in the reviewer's place on the team.
            doc.replace("\"user\":\"rev\"", "\"user\":\"rev9\""),
            // The period three weeks longer.
            doc.replace("2026-08-06T08:00:00Z", "2026-08-27T08:00:00Z"),
        ];
        assert!(
            forged.iter().all(|f| *f != doc),
            "{db:?}: the edits change the record"
        );
        let (other_doc, other_mac) = row(other.clone()).await;
        let copied = (other_doc.replace(&other, &id), Some(other_mac));
        // Its own record with the MAC cleared: nothing seals a record after the fact.
        let unsealed = (doc.clone(), None);
        for (doc2, mac2) in forged
            .into_iter()
            .map(|d| (d, Some(mac.clone())))
            .chain([copied, unsealed])
        {
            write(doc2, mac2).await;
            let err = e
                .control
                .permit(&e.act(&officer()), &id, ORIGIN)
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("changed outside mandat"),
                "{db:?}: {err}"
            );
            assert_eq!(code(err), "tampered");
            assert!(
                e.control
                    .permits(&e.act(&rev9), ORIGIN)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let mine = e.control.permits(&e.act(&officer()), ORIGIN).await.unwrap();
            assert_eq!(
                mine.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
                [other.as_str()],
                "{db:?}: the other permit goes on"
            );
            assert!(
                e.control
                    .stop(&e.act(&officer()), &id, "x", ORIGIN)
                    .await
                    .is_err(),
                "{db:?}: nothing acts on a tampered record"
            );
            // Matching: only the intact permit's persons remain.
            e.scope.reload(&e.store).await;
            let view = e.scope.watchlist("cam-1");
            assert!(
                !view.is_empty(),
                "{db:?}: the intact permit is still matched for"
            );
            assert!(
                view.list.entries.iter().all(|w| w.permit != id),
                "{db:?}: a tampered permit is matched for"
            );
        }
        write(doc, Some(mac)).await;
        assert_eq!(
            e.control
                .permit(&e.act(&officer()), &id, ORIGIN)
                .await
                .unwrap()
                .id,
            id
        );
    }
}
