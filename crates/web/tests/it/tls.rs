//! HTTPS with rustls: the server speaks TLS with the configured certificate, sets `Secure` on the
//! session cookie and HSTS, refuses clear text on the TLS port, and may then listen beyond
//! loopback. Bad certificate material is a clear error at start-up.

use std::net::SocketAddr;
use std::sync::Arc;

use mandat_law::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

struct Pki {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn pki() -> Pki {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    Pki {
        _dir: dir,
        cert,
        key,
        der: ck.cert.der().clone(),
    }
}

async fn https(addr: SocketAddr, trust: &Pki, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the server's certificate");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sets_secure_cookies_and_hsts_and_refuses_clear_text() {
    let (_dir, clock, control) = common::control().await;
    let secret = common::provision(&control, "admin", "admin password", &[Role::Admin])
        .await
        .unwrap();
    let code = mandat_store::totp::code(&secret, mandat_law::Clock::now(&*clock).unwrap()).unwrap();
    let pki = pki();
    let tls = mandat_web::Tls::from_pem_files(&pki.cert, &pki.key).unwrap();
    let state = mandat_web::AppState::new(control.clone(), Arc::new(Vec::new)).unwrap();
    let (addr, server) = mandat_web::bind("127.0.0.1:0".parse().unwrap(), state, Some(tls))
        .await
        .unwrap();
    tokio::spawn(server);

    let body = format!("user=admin&password=admin+password&totp={code}");
    let answer = https(
        addr,
        &pki,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 303"), "{answer}");
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie: __host-mandat_session="))
        .unwrap_or_else(|| panic!("no session cookie: {answer}"));
    for flag in ["; httponly", "; samesite=strict", "; secure"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(head.contains("strict-transport-security: max-age=31536000"));

    let health = https(
        addr,
        &pki,
        "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // Clear text on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut out),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "clear text was served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tls_may_leave_loopback_and_bad_pem_is_a_clear_error() {
    let (_dir, _clock, control) = common::control().await;
    let state = || mandat_web::AppState::new(control.clone(), Arc::new(Vec::new)).unwrap();
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = mandat_web::bind(any, state(), None).await.err().unwrap();
    assert!(err.to_string().contains("loopback only"), "{err}");
    let pki = pki();
    let tls = mandat_web::Tls::from_pem_files(&pki.cert, &pki.key).unwrap();
    let (addr, server) = mandat_web::bind(any, state(), Some(tls)).await.unwrap();
    assert!(addr.ip().is_unspecified());
    drop(server);

    // A missing file, a key file given as the certificate, a key that is not the certificate's.
    let other = self::pki();
    for (cert, key) in [
        (pki.cert.with_file_name("nothing.pem"), pki.key.clone()),
        (pki.key.clone(), pki.key.clone()),
        (pki.cert.clone(), other.key.clone()),
    ] {
        let err = mandat_web::Tls::from_pem_files(&cert, &key).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot use the TLS certificate or key") && msg.contains("PEM"),
            "{msg}"
        );
    }
}
