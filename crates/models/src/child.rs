//! Child processes (pip, Python, the benchmark's peer) start from an empty environment plus an
//! allow-list, so nothing of mandat's own (`MANDAT_MASTER_KEY` above all) reaches them.

use std::ffi::OsStr;
use std::process::Command;

/// Variables a child may inherit: where programs are, the locale, the temporary directory, and
/// what pip needs to reach PyPI through a proxy or a site's own certificate authority.
fn inherited(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "HOME",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TMPDIR",
        "TZ",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
    ];
    EXACT.contains(&name)
        || name.starts_with("LC_")
        || name.starts_with("PIP_")
        || name.to_ascii_lowercase().ends_with("_proxy")
}

/// A [`Command`] for `program` whose environment holds only the allow-listed variables of this
/// process; the caller adds what the child needs on top.
pub fn child_command(program: impl AsRef<OsStr>) -> Command {
    with_env(program, std::env::vars_os())
}

fn with_env(
    program: impl AsRef<OsStr>,
    parent: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for (k, v) in parent {
        if k.to_str().is_some_and(inherited) {
            cmd.env(k, v);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_never_see_mandat_secrets() {
        // This process's environment plus what an insider would hope leaks through.
        let parent = std::env::vars_os().chain(
            [
                ("MANDAT_MASTER_KEY", "00".repeat(32)),
                ("MANDAT_TEST_SECRET_XYZ", "hunter2".into()),
                ("PIP_TEST_ALLOWED", "yes".into()),
            ]
            .map(|(k, v)| (k.into(), v.into())),
        );
        let out = with_env("env", parent).output().expect("run env");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("MANDAT_"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("PIP_TEST_ALLOWED=yes"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("PATH=")), "{text}");
        assert!(inherited("https_proxy") && inherited("LC_ALL") && !inherited("AWS_SECRET"));
    }
}
