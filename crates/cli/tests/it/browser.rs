//! The web app in a real browser: Debian's headless Chromium driven through WebDriver
//! (chromium-driver), against `mandat demo` with the engine replaying the synthetic video.
//!
//! 1. An officer applies for the permit, a prosecutor grants it, the replayed video raises an
//!    alert that appears live on the operator's page, two reviewers confirm it, and the auditor
//!    sees the chain verified with those events.
//! 2. An urgent start produces alerts; the prosecutor refuses the permit, gets the deletion
//!    certificate, and the alerts disappear from the operator's page.
//! 3. Under the reform (se-court-for-all): urgent start and application by the prosecutor, with
//!    its offence from the catalogue; the court appoints a public counsel, who opposes; hearing
//!    and grant; the counsel appeals, the higher instance overturns, and the alerts disappear.
//!
//! Screenshots of every step go to `target/browser-artifacts/` (or `MANDAT_ARTIFACTS`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn data() -> PathBuf {
    let d = std::env::var_os("MANDAT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        d.join("synthetic/watchlist").is_dir(),
        "test data not found at {}; set MANDAT_DATA",
        d.display()
    );
    d
}

fn artifacts() -> PathBuf {
    let d = std::env::var_os("MANDAT_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts")
        });
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Demo {
    _proc: Killed,
    _home: tempfile::TempDir,
    url: String,
    /// The watchlist photo the draft still waits for (`--permit-stage upload`).
    upload: Option<PathBuf>,
    logins: HashMap<String, String>,
    /// Each account's TOTP secret, and the last time step a login of it used.
    totp: HashMap<String, String>,
    steps: std::sync::Mutex<HashMap<String, i64>>,
}

impl Demo {
    /// A one-time code of `user` no login used yet: a code is accepted once, and the server takes
    /// the step before and after its own, so a second login within 30 s takes the next step's.
    fn otp(&self, user: &str) -> String {
        loop {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let now = now_ms / 30_000;
            let mut steps = self.steps.lock().unwrap();
            let last = steps.get(user).copied().unwrap_or(i64::MIN);
            let step = now.max(last.saturating_add(1));
            if step <= now + 1 {
                steps.insert(user.to_string(), step);
                return mandat_store::totp::code(
                    &self.totp[user],
                    mandat_law::Timestamp(step * 30_000),
                )
                .unwrap();
            }
            drop(steps);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// `mandat demo` with the permit left as a draft, on a free port; reads its URL and logins.
fn demo() -> Demo {
    demo_in("se-2026", "draft")
}

/// [`demo`] under the jurisdiction profile `profile`, its permit at `stage`.
fn demo_in(profile: &str, stage: &str) -> Demo {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandat"))
        .args([
            "demo",
            "--permit-stage",
            stage,
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data())
        .arg("--home")
        .arg(home.path().join("demo"))
        .env_remove("MANDAT_DB")
        .env_remove("MANDAT_HOME")
        .env("MANDAT_JURISDICTION", profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run mandat demo");
    let out = BufReader::new(child.stdout.take().unwrap());
    let proc = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut url = None;
    let mut upload = None;
    let mut logins = HashMap::new();
    let mut totp = HashMap::new();
    let mut in_logins = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let line = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(l) => l,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => panic!("mandat demo exited before it was ready (see its messages above)"),
        };
        if let Some(rest) = line.strip_prefix("upload ") {
            upload = rest.split(" for ").next().map(PathBuf::from);
        } else if let Some(rest) = line.strip_prefix("mandat demo  ") {
            url = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches('/').to_string());
        } else if line.starts_with("logins") {
            in_logins = true;
        } else if in_logins && line.starts_with("  ") {
            let mut it = line.split_whitespace();
            if let (Some(u), Some(p), Some(k)) = (it.next(), it.next(), it.next()) {
                logins.insert(u.to_string(), p.to_string());
                totp.insert(u.to_string(), k.to_string());
            }
        } else if in_logins {
            break;
        }
    }
    // Keep draining so the demo never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Demo {
        _proc: proc,
        _home: home,
        url: url.expect("mandat demo printed its URL"),
        upload,
        logins,
        totp,
        steps: Default::default(),
    }
}

/// chromedriver on a free port.
fn chromedriver() -> (Killed, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: install Debian's chromium and chromium-driver (scripts/test-deps.sh does)");
    let proc = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (proc, port)
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1440,1000", "--no-first-run"
        ]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("start a headless Chromium session")
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
}

async fn login(c: &Client, d: &Demo, user: &str) {
    c.goto(&format!("{}/login", d.url)).await.unwrap();
    c.find(Locator::Id("user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&d.logins[user])
        .await
        .unwrap();
    // The second factor is never skipped: the code of the demo account's secret, as an app shows.
    c.find(Locator::Id("totp"))
        .await
        .unwrap()
        .send_keys(&d.otp(user))
        .await
        .unwrap();
    click(c, Locator::Css("form button[type=submit]")).await;
    // Signed in: the header names the user.
    let who = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("header .who a[href='/password']"))
        .await
        .unwrap_or_else(|e| panic!("{user} could not log in: {e}"));
    assert!(who.text().await.unwrap().contains(user));
}

async fn logout(c: &Client) {
    click(c, Locator::Css("form[action='/logout'] button")).await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("password"))
        .await
        .unwrap();
}

/// Find an element on the page and click it.
async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

/// A GET with the browser's session cookie, outside the browser (which would save a download to
/// disk): the status and headers, and the body.
fn fetch(base: &str, path: &str, session: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nCookie: __Host-mandat_session={session}\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    (
        String::from_utf8_lossy(&raw[..at]).into_owned(),
        raw[at + 4..].to_vec(),
    )
}

async fn body_text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Poll the page as it is (no reload) until `ok` holds.
async fn until<F: Fn(&str) -> bool>(c: &Client, what: &str, secs: u64, ok: F) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let html = c.source().await.unwrap();
        if ok(&html) {
            return html;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn first_alert_id(html: &str) -> Option<String> {
    let at = html.find("id=\"alert-")? + "id=\"alert-".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_string())
}

/// The prosecutor decides the demo's permit; the page must show the application's fields and
/// `also`.
async fn grant_or_refuse(c: &Client, d: &Demo, outcome: &str, shot_name: &str, also: &[&str]) {
    login(c, d, "prosecutor").await;
    c.goto(&format!("{}/decide", d.url)).await.unwrap();
    let text = body_text(c).await;
    for field in ["FRIA-DEMO-1", "EU-DB-DEMO-1", "sergel-1", "demo person"]
        .iter()
        .chain(also)
    {
        assert!(text.contains(field), "the decision page shows {field}");
    }
    // The enrolled photos beside the application, each served to the decider.
    let photos = c.find_all(Locator::Css("svg.photo image")).await.unwrap();
    assert!(!photos.is_empty(), "the decision page shows the photos");
    let href = photos[0].attr("href").await.unwrap().expect("a photo link");
    let session = c.get_named_cookie("__Host-mandat_session").await.unwrap();
    let (head, body) = fetch(&d.url, &href, session.value());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!body.is_empty());
    c.find(Locator::Css("textarea[name=reasons]"))
        .await
        .unwrap()
        .send_keys("Nödvändigt och proportionerligt: en kamera, en vecka.")
        .await
        .unwrap();
    shot(c, shot_name).await;
    click(c, Locator::Css(&format!("button[value={outcome}]"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_to_verified_alert_in_the_browser() {
    let d = demo_in("se-2026", "upload");
    let (_driver, port) = chromedriver();
    let op = browser(port).await;
    let c = browser(port).await;

    // The operator watches before anything is granted.
    login(&op, &d, "operator").await;
    assert!(
        op.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/operator")
    );
    assert!(body_text(&op).await.contains("Inga larm"));
    shot(&op, "flow1-01-operator-before").await;

    // 1. The officer uploads the photo the draft waits for, on the permit's photos page: a photo
    //    with no face is refused with its reason, the real one is taken with what the gate
    //    measured. Then the officer applies.
    login(&c, &d, "officer").await;
    shot(&c, "flow1-02-officer-permits").await;
    click(&c, Locator::Css("a[href$='/photos']")).await;
    let blank = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save_with_format(blank.path(), image::ImageFormat::Png)
        .unwrap();
    let upload_file = |path: PathBuf| {
        let c = &c;
        async move {
            c.find(Locator::Css("input[type=file]"))
                .await
                .unwrap()
                .send_keys(path.to_str().unwrap())
                .await
                .unwrap();
            click(
                c,
                Locator::Css("form[enctype='multipart/form-data'] button"),
            )
            .await;
        }
    };
    upload_file(blank.path().to_path_buf()).await;
    until(&c, "the gate's refusal", 60, |h| {
        h.contains("Bilden visar 0 ansikten")
    })
    .await;
    shot(&c, "flow1-02b-photo-refused").await;
    upload_file(
        d.upload
            .clone()
            .expect("the demo names the photo to upload"),
    )
    .await;
    let html = until(&c, "the photo taken", 60, |h| {
        h.contains("klarade kvalitetskontrollen")
    })
    .await;
    assert!(html.contains("class=\"face\""), "the face's box is drawn");
    assert!(!html.contains("Inte uppladdad"), "every photo is in");
    for measure in ["Ögonavstånd", "Skärpa", "Huvudets vinkel"] {
        assert!(html.contains(measure), "the page shows the {measure}");
    }
    shot(&c, "flow1-02c-photo-enrolled").await;
    // The photo drawn under the box is the one enrolled, served to its applicant.
    let href = html
        .split("<image href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the photo under the box")
        .to_string();
    let session = c.get_named_cookie("__Host-mandat_session").await.unwrap();
    let (head, body) = fetch(&d.url, &href, session.value());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, std::fs::read(d.upload.as_ref().unwrap()).unwrap());
    c.goto(&format!("{}/permits", d.url)).await.unwrap();
    click(&c, Locator::Css("form[action$='/apply'] button")).await;
    let html = until(&c, "the application to be filed", 20, |h| {
        h.contains("st-applied")
    })
    .await;
    assert!(html.contains("Tillståndet är uppdaterat"));
    logout(&c).await;

    // 2. The prosecutor grants, reading every field the law requires.
    grant_or_refuse(&c, &d, "grant", "flow1-03-prosecutor-decides", &[]).await;
    until(&c, "the decision to be recorded", 20, |h| {
        h.contains("Beslutet är registrerat")
    })
    .await;
    logout(&c).await;

    // 3. The replayed video raises an alert; it appears on the operator's page without a reload.
    let html = until(&op, "a live alert on the operator page", 180, |h| {
        h.contains("id=\"alert-")
    })
    .await;
    let alert = first_alert_id(&html).unwrap();
    shot(&op, "flow1-04-operator-live-alert").await;

    // 4. Two reviewers confirm it, each blind to the other.
    for (i, reviewer) in ["reviewer1", "reviewer2"].iter().enumerate() {
        login(&c, &d, reviewer).await;
        c.goto(&format!("{}/review", d.url)).await.unwrap();
        let card = c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id(&format!("review-{alert}")))
            .await
            .unwrap();
        // Reference photo and probe crop side by side, both loaded.
        let imgs = card.find_all(Locator::Css("img")).await.unwrap();
        assert_eq!(imgs.len(), 2);
        let loaded = c
            .execute(
                &format!(
                    "return Array.from(document.querySelectorAll('#review-{alert} img'))\
                     .every(i => i.complete && i.naturalWidth > 0)"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(loaded, serde_json::Value::Bool(true), "both images load");
        if i == 1 {
            assert!(
                !body_text(&c).await.contains("reviewer1"),
                "the second reviewer sees nothing of the first"
            );
        }
        card.find(Locator::Css("textarea"))
            .await
            .unwrap()
            .send_keys("Samma ansikte: ögon, näsa, hårfäste.")
            .await
            .unwrap();
        shot(&c, &format!("flow1-05-{reviewer}-queue")).await;
        card.find(Locator::Css("button[value=confirm]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&c, "the review to be recorded", 20, |h| {
            h.contains("Din granskning är registrerad")
        })
        .await;
        logout(&c).await;
    }
    let row = format!("id=\"alert-{alert}\"");
    until(&op, "the alert shown as verified", 40, |h| {
        h.find(&row).is_some_and(|at| {
            h[at..]
                .split("</tr>")
                .next()
                .unwrap_or("")
                .contains("st-verified")
        })
    })
    .await;
    shot(&op, "flow1-06-operator-verified").await;

    // 5. The auditor verifies the chain and finds those events.
    login(&c, &d, "auditor").await;
    click(&c, Locator::Css("form[action='/audit/verify'] button")).await;
    let verdict = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("verdict"))
        .await
        .unwrap();
    assert!(
        verdict.text().await.unwrap().contains("obruten"),
        "chain intact"
    );
    let text = body_text(&c).await;
    for action in [
        "permit.apply",
        "permit.grant",
        "alert.review",
        "alert.view_reference",
        "use.start",
        "audit.verify",
    ] {
        assert!(text.contains(action), "the audit page lists {action}");
    }
    shot(&c, "flow1-07-auditor-verified").await;

    // The reports on the same page: the IMY register lists the use, with its PDF; the annual
    // report downloads with the grant and the verified alert counted.
    let imy = c.find(Locator::Id("imy")).await.unwrap();
    let imy_text = imy.text().await.unwrap();
    assert!(
        imy_text.contains("Användning påbörjad"),
        "the register lists the use: {imy_text}"
    );
    c.goto(&format!("{}/audit#imy", d.url)).await.unwrap();
    shot(&c, "flow1-08-auditor-reports").await;
    let imy = c.find(Locator::Id("imy")).await.unwrap();
    let pdf = imy
        .find(Locator::Css("a[href$='/pdf']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("a PDF link");
    let session = c.get_named_cookie("__Host-mandat_session").await.unwrap();
    let (head, body) = fetch(&d.url, &pdf, session.value());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("application/pdf") && head.contains("no-store"),
        "{head}"
    );
    assert!(body.starts_with(b"%PDF-"), "a PDF");
    let year = c
        .find(Locator::Id("year"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .expect("the current year");
    let (head, body) = fetch(
        &d.url,
        &format!("/audit/annual?year={year}&format=csv"),
        session.value(),
    );
    assert!(head.contains("text/csv"), "{head}");
    let csv = String::from_utf8(body).unwrap();
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.split(',').nth(1) == Some("victim_search"))
        .unwrap_or_else(|| panic!("a victim-search row: {csv}"))
        .split(',')
        .collect();
    assert!(row[3].parse::<u32>().unwrap() >= 1, "grants: {csv}");
    assert!(
        row[14].parse::<u32>().unwrap() >= 1,
        "verified alerts: {csv}"
    );

    // The language switch works on every page.
    click(&c, Locator::LinkText("English")).await;
    until(&c, "English", 10, |h| h.contains("Audit log")).await;
    shot(&c, "flow1-09-auditor-english").await;
    op.close().await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_urgent_use_erases_its_alerts_in_the_browser() {
    let d = demo();
    let (_driver, port) = chromedriver();
    let op = browser(port).await;
    let c = browser(port).await;
    login(&op, &d, "operator").await;

    // Urgent start: use begins at once, with the 24-hour countdown in view.
    login(&c, &d, "officer").await;
    c.find(Locator::Css(
        "form[action$='/urgent-start'] input[name=ground]",
    ))
    .await
    .unwrap()
    .send_keys("Hotet är akut: han är beväpnad nu.")
    .await
    .unwrap();
    click(&c, Locator::Css("form[action$='/urgent-start'] button")).await;
    let html = until(&c, "the urgent start", 20, |h| {
        h.contains("st-urgent_active")
    })
    .await;
    assert!(
        html.contains("Hotet är akut: han är beväpnad nu."),
        "the ground is shown"
    );
    assert!(html.contains("class=\"countdown\""));
    assert!(html.contains("23 h 5") || html.contains("24 h 00") || html.contains("23 h"));
    shot(&c, "flow2-01-urgent-countdown").await;

    until(&op, "alerts from the urgent use", 180, |h| {
        h.contains("id=\"alert-")
    })
    .await;
    shot(&op, "flow2-02-operator-alerts").await;

    // The application follows; the prosecutor refuses it.
    click(&c, Locator::Css("form[action$='/apply'] button")).await;
    until(&c, "the application", 20, |h| {
        h.contains("st-urgent_applied")
    })
    .await;
    logout(&c).await;
    // The decider sees why use could not wait.
    grant_or_refuse(
        &c,
        &d,
        "refuse",
        "flow2-03-prosecutor-refuses",
        &["Hotet är akut: han är beväpnad nu."],
    )
    .await;
    let cert = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("certificate"))
        .await
        .unwrap();
    let text = cert.text().await.unwrap();
    assert!(text.contains("Raderingsintyg") || text.contains("raderat"));
    shot(&c, "flow2-04-deletion-certificate").await;

    // Everything the use produced is gone, from the operator's page too.
    until(&op, "the alerts to disappear", 30, |h| {
        !h.contains("id=\"alert-")
    })
    .await;
    assert!(body_text(&op).await.contains("Inga larm"));
    shot(&op, "flow2-05-operator-after-refusal").await;
    op.close().await.unwrap();
    c.close().await.unwrap();
}

/// Type `text` into the first element `css` finds.
async fn type_in(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// The reform (se-court-for-all) in the browser: the prosecutor starts a suspect search
/// urgently, with its ground, and files it with its offence from the catalogue; the court
/// appoints a public counsel, who reads the application and opposes it; the court holds the
/// hearing and grants; the counsel appeals to a higher judge, who overturns the grant: use stops
/// and the alerts the use raised disappear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overturned_grant_stops_and_erases_in_the_browser_under_the_reform() {
    let d = demo_in("se-court-for-all", "draft");
    let (_driver, port) = chromedriver();
    let op = browser(port).await;
    let c = browser(port).await;
    login(&op, &d, "operator").await;

    login(&c, &d, "prosecutor").await;
    type_in(
        &c,
        "form[action$='/urgent-start'] input[name=ground]",
        "Han är på väg att lämna landet i kväll.",
    )
    .await;
    click(&c, Locator::Css("form[action$='/urgent-start'] button")).await;
    until(&c, "the urgent start", 20, |h| {
        h.contains("st-urgent_active")
    })
    .await;
    click(&c, Locator::Css("form[action$='/apply'] button")).await;
    until(&c, "the application", 20, |h| {
        h.contains("st-urgent_applied")
    })
    .await;
    shot(&c, "flow3-01-prosecutor-applies").await;
    until(&op, "alerts from the urgent use", 180, |h| {
        h.contains("id=\"alert-")
    })
    .await;
    logout(&c).await;

    // The court sees the offence from the catalogue and the urgent ground, and appoints counsel.
    login(&c, &d, "judge").await;
    c.goto(&format!("{}/decide", d.url)).await.unwrap();
    let text = body_text(&c).await;
    for shown in [
        "mord",
        "BrB 3 kap. 1 §",
        "Han är på väg att lämna landet i kväll.",
    ] {
        assert!(text.contains(shown), "the decision page shows {shown}");
    }
    c.goto(&format!("{}/procedure", d.url)).await.unwrap();
    type_in(&c, "form[action$='/counsel'] input[name=user]", "counsel").await;
    click(&c, Locator::Css("form[action$='/counsel'] button")).await;
    until(&c, "the appointment", 20, |h| h.contains("flash ok")).await;
    logout(&c).await;

    // The counsel reads the application, never its images, and opposes it.
    login(&c, &d, "counsel").await;
    let text = body_text(&c).await;
    assert!(
        text.contains("mord") && text.contains("K-123456-26"),
        "{text}"
    );
    assert!(
        !c.source().await.unwrap().contains("<img"),
        "the counsel sees no image"
    );
    type_in(
        &c,
        "textarea[name=text]",
        "Området är för stort för en misstanke.",
    )
    .await;
    shot(&c, "flow3-02-counsel-opinion").await;
    click(&c, Locator::Css("button[value=opposes]")).await;
    until(&c, "the opinion", 20, |h| h.contains("flash ok")).await;
    logout(&c).await;

    // The court holds the hearing, then grants.
    login(&c, &d, "judge").await;
    c.goto(&format!("{}/procedure", d.url)).await.unwrap();
    assert!(
        body_text(&c)
            .await
            .contains("Området är för stort för en misstanke.")
    );
    type_in(
        &c,
        "form[action$='/hearing'] input[name=present]",
        "åklagaren, ombudet",
    )
    .await;
    type_in(
        &c,
        "form[action$='/hearing'] textarea[name=outcome]",
        "Båda hördes.",
    )
    .await;
    click(&c, Locator::Css("form[action$='/hearing'] button")).await;
    until(&c, "the hearing", 20, |h| h.contains("flash ok")).await;
    c.goto(&format!("{}/decide", d.url)).await.unwrap();
    type_in(
        &c,
        "textarea[name=reasons]",
        "Nödvändigt: en kamera, en vecka.",
    )
    .await;
    click(&c, Locator::Css("button[value=grant]")).await;
    until(&c, "the grant", 20, |h| h.contains("flash ok")).await;
    logout(&c).await;

    // The counsel appeals the grant to a judge who had no part in it.
    login(&c, &d, "counsel").await;
    type_in(&c, "form[action$='/appeal'] input[name=to]", "judge2").await;
    type_in(
        &c,
        "form[action$='/appeal'] textarea[name=grounds]",
        "Beslutet är oproportionerligt.",
    )
    .await;
    click(&c, Locator::Css("form[action$='/appeal'] button")).await;
    until(&c, "the appeal", 20, |h| h.contains("flash ok")).await;
    logout(&c).await;

    // The higher instance overturns it: use stops, and what it produced is erased.
    login(&c, &d, "judge2").await;
    c.goto(&format!("{}/procedure", d.url)).await.unwrap();
    let text = body_text(&c).await;
    assert!(text.contains("Beslutet är oproportionerligt."), "{text}");
    type_in(
        &c,
        "textarea[name=reasons]",
        "Ingreppet står inte i proportion.",
    )
    .await;
    shot(&c, "flow3-03-higher-instance").await;
    click(&c, Locator::Css("button[value=overturned]")).await;
    until(&c, "the appeal decision", 20, |h| h.contains("flash ok")).await;
    until(&op, "the alerts to disappear", 30, |h| {
        !h.contains("id=\"alert-")
    })
    .await;
    shot(&op, "flow3-04-operator-after-overturn").await;
    logout(&c).await;
    login(&c, &d, "prosecutor").await;
    until(&c, "the permit overturned", 20, |h| {
        h.contains("st-overturned")
    })
    .await;
    shot(&c, "flow3-05-overturned").await;
    op.close().await.unwrap();
    c.close().await.unwrap();
}
