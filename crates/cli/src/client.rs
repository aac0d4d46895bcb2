//! The CLI's side of the one door: every lawful-use command is a request to `mandat serve`, made as
//! the user who logged in with `mandat login --server URL`. The CLI holds no key and opens no
//! database for them; the server checks roles, teams and the law, and records the user and the
//! peer address in the audit log.
//!
//! The session file holds the server's address, the CA to trust and the bearer token (mode 600,
//! never through a symbolic link). Plain HTTP is used only to a server on loopback, as the server
//! itself only speaks plain HTTP there: a token never crosses a network in clear.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::lawful::{Paths, write_private};

/// Where the CLI finds the server.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// The server's address: `https://HOST[:PORT]`, or `http://127.0.0.1:PORT` on this host.
    #[arg(long, env = "MANDAT_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// PEM file of the CA that signed the server's certificate (the police PKI). Without it the
    /// public web roots are trusted.
    #[arg(long, env = "MANDAT_CA")]
    pub ca: Option<PathBuf>,
}

/// What `mandat login` keeps for later commands.
#[derive(Serialize, Deserialize)]
struct SessionFile {
    server: String,
    ca: Option<PathBuf>,
    user: String,
    token: String,
}

/// An error answer of the API.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    rule: Option<String>,
}

/// The largest answer the CLI reads (an audit export, a PDF).
const MAX_ANSWER: u64 = 1 << 30;

/// The certificates in a PEM file's bytes (other items are skipped).
pub(crate) fn pem_certificates(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    pub user: String,
}

impl Client {
    /// A client of `args.server`, not logged in (for `login` and `enrol`).
    pub fn connect(args: &ServerArgs) -> Result<Self> {
        Self::new(&args.server, args.ca.as_deref(), None, String::new())
    }

    /// A client acting as the user of the session file.
    pub fn logged_in(paths: &Paths) -> Result<Self> {
        let file = paths.session();
        let text = read_session(&file)?;
        let s: SessionFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a session of this mandat version: run `mandat login --server URL --user ID` again",
                file.display()
            )
        })?;
        Self::new(&s.server, s.ca.as_deref(), Some(s.token), s.user)
    }

    fn new(server: &str, ca: Option<&Path>, token: Option<String>, user: String) -> Result<Self> {
        let base = check_server(server)?;
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(ca) = ca {
            let pem =
                std::fs::read(ca).with_context(|| format!("reading the CA {}", ca.display()))?;
            let certs = pem_certificates(&pem);
            if certs.is_empty() {
                bail!("{} holds no PEM certificate", ca.display());
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The token goes to this server only: no proxy from the environment, no redirects.
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self {
            agent,
            base,
            token,
            user,
        })
    }

    /// Log in and keep the session for later commands.
    pub fn login(
        args: &ServerArgs,
        paths: &Paths,
        user: &str,
        password: &str,
        code: &str,
    ) -> Result<(String, Vec<String>)> {
        #[derive(Deserialize)]
        struct Answer {
            token: String,
            user: String,
            roles: Vec<String>,
        }
        let c = Self::connect(args)?;
        let a: Answer = c.post(
            "/api/v1/login",
            &serde_json::json!({"user": user, "password": password, "totp": code}),
        )?;
        let file = SessionFile {
            server: c.base.clone(),
            ca: args
                .ca
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            user: a.user.clone(),
            token: a.token,
        };
        write_private(&paths.session(), serde_json::to_vec(&file)?)?;
        Ok((a.user, a.roles))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(self.call("GET", path, Send::Empty)?, path)
    }

    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let mut r = self.call("GET", path, Send::Empty)?;
        r.body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .with_context(|| format!("reading the answer to GET {path}"))
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let body = serde_json::to_vec(body)?;
        self.json(self.call("POST", path, Send::Json(&body))?, path)
    }

    pub fn put_bytes<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T> {
        self.json(self.call("PUT", path, Send::Bytes(bytes))?, path)
    }

    fn json<T: DeserializeOwned>(
        &self,
        mut r: ureq::http::Response<ureq::Body>,
        path: &str,
    ) -> Result<T> {
        let text = r
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .with_context(|| format!("reading the answer to {path}"))?;
        serde_json::from_str(&text).with_context(|| {
            format!("the server's answer to {path} is not what this CLI expects: is it the same mandat version?")
        })
    }

    /// One request; an error answer becomes the server's message, with the legal rule behind it.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Send<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut req = self.agent.get(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            (m, body) => {
                let mut req = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match body {
                    Send::Empty => req.send_empty(),
                    Send::Json(b) => req.content_type("application/json").send(b),
                    Send::Bytes(b) => req.content_type("application/octet-stream").send(b),
                }
            }
        };
        let mut r = result.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the mandat server at {}: {e}; is `mandat serve` running there?",
                self.base
            )
        })?;
        let status = r.status();
        if status.is_success() {
            return Ok(r);
        }
        let mut text = String::new();
        let _ = r
            .body_mut()
            .as_reader()
            .take(64 * 1024)
            .read_to_string(&mut text);
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) if status == ureq::http::StatusCode::UNAUTHORIZED => bail!(
                "{} ({}): log in again with `mandat login --server {} --user ID`",
                e.message,
                e.code,
                self.base
            ),
            Ok(e) => match e.rule {
                Some(rule) => bail!("refused: {} [{rule}] ({})", e.message, e.code),
                None => bail!("{} ({})", e.message, e.code),
            },
            Err(_) => bail!("the server answered {status} to {method} {path}"),
        }
    }
}

enum Send<'a> {
    Empty,
    Json(&'a [u8]),
    Bytes(&'a [u8]),
}

/// The session file, never through a symbolic link and only if no one else can read or write it:
/// a planted or shared file could send passwords to another server.
fn read_session(file: &Path) -> Result<String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
        .map_err(|_| {
            anyhow::anyhow!(
                "not logged in ({} not found): run `mandat login --server URL --user ID`",
                file.display()
            )
        })?;
    let meta = f.metadata()?;
    // SAFETY: geteuid only reads this process's effective user id.
    let me = unsafe { libc::geteuid() };
    if meta.mode() & 0o077 != 0 || meta.uid() != me {
        bail!(
            "{} is not this user's private file (mode 600): remove it and log in again",
            file.display()
        );
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// The server's base URL: `https://…`, or `http://…` to loopback only.
fn check_server(server: &str) -> Result<String> {
    let base = server.trim().trim_end_matches('/').to_string();
    let Some((scheme, rest)) = base.split_once("://") else {
        bail!(
            "--server {server:?}: give a URL such as https://mandat.polisen.local or http://127.0.0.1:8080"
        );
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" if !host.is_empty() => Ok(base),
        "http" if loopback => Ok(base),
        "http" => bail!(
            "--server {server:?}: plain HTTP only to this host (127.0.0.1, ::1, localhost); use https:// for another, so the password and token are encrypted"
        ),
        _ => {
            bail!("--server {server:?}: the URL must start with https:// (or http:// on loopback)")
        }
    }
}

/// A path segment, percent-encoded, so an id cannot change the request's path.
pub fn seg(s: &str) -> String {
    if s.is_empty() || s == "." || s == ".." {
        return s.replace('.', "%2E");
    }
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
            "https://mandat.polisen.local",
            "https://10.0.0.5:8443",
        ] {
            assert!(check_server(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            check_server("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "http://10.0.0.5:8080",
            "http://mandat.polisen.local",
            "http://127.0.0.1.evil.example",
            "ftp://127.0.0.1",
            "127.0.0.1:8080",
            "https://",
        ] {
            assert!(check_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(seg("P-1"), "P-1");
        assert_eq!(seg("../users"), "..%2Fusers");
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("a b?c#d"), "a%20b%3Fc%23d");
    }
}
