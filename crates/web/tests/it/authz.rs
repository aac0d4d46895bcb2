//! The authorisation matrix: every route × every role (and no session) → allowed or denied, from
//! one table. The table must name exactly the routes the server has (`mandat_web::endpoints()`),
//! so a new route without a row fails here before it ships.
//!
//! Allowed means the server did not refuse the caller: any answer but 401, 403, a redirect to the
//! login page or a 5xx (a state refusal such as 422 still counts as allowed). Denied means 403 for
//! a signed-in role, and 401 (API) or a redirect to the login page (pages) without a session.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::application;
use mandat_control::Control;
use mandat_law::{Actor, Role};

use crate::common;

/// Roles by letter: o operator, r reviewer, a applicant, p prosecutor, j judge, u auditor (IMY),
/// d admin, c public counsel. `*` is public: no session needed. A capital letter marks a role the permissions table
/// lets through but that is off the permit's team: it gets 404, as for an id that does not exist.
const ROLES: [(char, &str, Role); 8] = [
    ('o', "op", Role::Operator),
    ('r', "rev", Role::Reviewer),
    ('a', "app", Role::Applicant),
    ('p', "pros", Role::Prosecutor),
    ('j', "judge", Role::Judge),
    ('u', "aud", Role::Auditor),
    ('d', "adm", Role::Admin),
    ('c', "counsel", Role::Counsel),
];

const PW: &str = "a long password";

/// (method, route, request path with {FIXTURE} names, who is allowed, body). API bodies are JSON;
/// page bodies are forms, to which the caller's CSRF token is added.
const MATRIX: &[(&str, &str, &str, &str, &str)] = &[
    // ---- API ----
    ("GET", "/api/v1/health", "/api/v1/health", "*", ""),
    // Describes the API, not anything in it.
    (
        "GET",
        "/api/v1/openapi.json",
        "/api/v1/openapi.json",
        "*",
        "",
    ),
    (
        "POST",
        "/api/v1/login",
        "/api/v1/login",
        "*",
        r#"{"user":"op","password":"a long password","totp":"{OTP}"}"#,
    ),
    ("POST", "/api/v1/logout", "/api/v1/logout", "orapjudc", ""),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", "orapju", ""),
    (
        "GET",
        "/api/v1/alerts/stream",
        "/api/v1/alerts/stream",
        "orapju",
        "",
    ),
    (
        "GET",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{X3}",
        "orapju",
        "",
    ),
    (
        "GET",
        "/api/v1/alerts/{id}/media/{which}",
        "/api/v1/alerts/{X3}/media/crop",
        "rapj",
        "",
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/review",
        "/api/v1/alerts/{X1}/review",
        "r",
        r#"{"verdict":"confirm","reason":"same face"}"#,
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/dispatch",
        "/api/v1/alerts/{X3}/dispatch",
        "o",
        "{}",
    ),
    // The team's roles that see images; the alert is not verified, so the law then refuses.
    (
        "POST",
        "/api/v1/alerts/{id}/export",
        "/api/v1/alerts/{X3}/export",
        "rapj",
        "",
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/export/confirm",
        "/api/v1/alerts/{X3}/export/confirm",
        "rapj",
        r#"{"package_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    ),
    ("GET", "/api/v1/cameras", "/api/v1/cameras", "orapjud", ""),
    (
        "POST",
        "/api/v1/cameras",
        "/api/v1/cameras",
        "d",
        r#"{"id":"cam-api","name":"n","location":null,"owner":"police","enabled":true,"stream_url":"rtsp://127.0.0.1/x"}"#,
    ),
    (
        "POST",
        "/api/v1/cameras/{id}/change",
        "/api/v1/cameras/cam-1/change",
        "d",
        r#"{"change":"enable"}"#,
    ),
    (
        "GET",
        "/api/v1/cameras/health",
        "/api/v1/cameras/health",
        "orapjud",
        "",
    ),
    (
        "GET",
        "/api/v1/cameras/notices",
        "/api/v1/cameras/notices",
        "orapjud",
        "",
    ),
    ("GET", "/api/v1/workers", "/api/v1/workers", "d", ""),
    (
        "POST",
        "/api/v1/workers",
        "/api/v1/workers",
        "d",
        r#"{"id":"w-api","csr":"{CSR}","capacity":2}"#,
    ),
    (
        "POST",
        "/api/v1/workers/{id}/approve",
        "/api/v1/workers/w-fixture/approve",
        "d",
        "{}",
    ),
    (
        "POST",
        "/api/v1/workers/{id}/disable",
        "/api/v1/workers/w-fixture/disable",
        "d",
        "{}",
    ),
    ("GET", "/api/v1/permits", "/api/v1/permits", "orapjuc", ""),
    (
        "POST",
        "/api/v1/permits",
        "/api/v1/permits",
        "ap",
        "{APPLICATION}",
    ),
    (
        "GET",
        "/api/v1/permits/{id}",
        "/api/v1/permits/{G}",
        "orapjuC",
        "",
    ),
    (
        "POST",
        "/api/v1/permits/{id}/apply",
        "/api/v1/permits/{D1}/apply",
        "a",
        "",
    ),
    (
        "POST",
        "/api/v1/permits/{id}/urgent-start",
        "/api/v1/permits/{D2}/urgent-start",
        "a",
        r#"{"ground":"she is in danger now"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/team",
        "/api/v1/permits/{D2}/team",
        "a",
        r#"{"user":"rev","role":"reviewer"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/stop",
        "/api/v1/permits/{G2}/stop",
        "apj",
        r#"{"reason":"found"}"#,
    ),
    // A legal hold: the permit's prosecutor or judge (the law then says which of them may).
    (
        "POST",
        "/api/v1/permits/{id}/hold",
        "/api/v1/permits/{G2}/hold",
        "pj",
        r#"{"reason":"the defence asked for the footage"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/hold/release",
        "/api/v1/permits/{G2}/hold/release",
        "pj",
        "",
    ),
    // What a use led to: only its applicant (the law answers the prosecutor 403, not_applicant).
    (
        "POST",
        "/api/v1/permits/{id}/outcome",
        "/api/v1/permits/{G2}/outcome",
        "a",
        r#"{"results":["arrested"]}"#,
    ),
    // A typed offence is confirmed by the permit's prosecutor (the law then answers D3, which
    // has none, 422); a permit is handed over by its applicant (the law: nothing to hand over for
    // a victim search under se-2026); the decider registers its own case number.
    (
        "POST",
        "/api/v1/permits/{id}/offence/confirm",
        "/api/v1/permits/{D3}/offence/confirm",
        "p",
        "",
    ),
    (
        "POST",
        "/api/v1/permits/{id}/hand-over",
        "/api/v1/permits/{D3}/hand-over",
        "a",
        r#"{"to":"pros"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/case",
        "/api/v1/permits/{A2}/case",
        "pJ",
        r#"{"case_number":"AM-1234-26"}"#,
    ),
    (
        "GET",
        "/api/v1/offences",
        "/api/v1/offences",
        "orapjudc",
        "",
    ),
    // The court's procedure. The fixtures are se-2026 permits, which have none, and decided by a
    // prosecutor: the court and the counsel are on none of them (their allowed path is
    // `the_court_procedure_runs_through_the_pages_under_the_reform` and the control tests).
    (
        "POST",
        "/api/v1/permits/{id}/counsel",
        "/api/v1/permits/{A1}/counsel",
        "J",
        r#"{"user":"counsel"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/opinion",
        "/api/v1/permits/{A1}/opinion",
        "C",
        r#"{"position":"opposes","text":"t"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/hearing",
        "/api/v1/permits/{A1}/hearing",
        "J",
        r#"{"present":"p","outcome":"o"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/appeal",
        "/api/v1/permits/{G}/appeal",
        "aC",
        r#"{"to":"judge","grounds":"g"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/appeal/decision",
        "/api/v1/permits/{G2}/appeal/decision",
        "J",
        r#"{"outcome":"upheld","reasons":"r"}"#,
    ),
    // An amendment: asked for by the applicant, decided by the permit's prosecutor.
    (
        "POST",
        "/api/v1/permits/{id}/amendments",
        "/api/v1/permits/{G2}/amendments",
        "a",
        r#"{"cameras":["cam-2"],"reasons":"she moved north"}"#,
    ),
    (
        "POST",
        "/api/v1/permits/{id}/amendments/decide",
        "/api/v1/permits/{G2}/amendments/decide",
        "pJ",
        r#"{"number":1,"outcome":"refuse","reasons":"not shown to be needed"}"#,
    ),
    (
        "POST",
        "/api/v1/keys/rotate",
        "/api/v1/keys/rotate",
        "d",
        "",
    ),
    // Victim search is decided by a prosecutor: a judge is refused (wrong authority).
    (
        "POST",
        "/api/v1/permits/{id}/decide",
        "/api/v1/permits/{A1}/decide",
        "pJ",
        r#"{"outcome":"grant","reasons":"necessary"}"#,
    ),
    ("GET", "/api/v1/users", "/api/v1/users", "d", ""),
    (
        "POST",
        "/api/v1/users/{id}/disable",
        "/api/v1/users/{VICTIM1}/disable",
        "d",
        "",
    ),
    (
        "POST",
        "/api/v1/users/{id}/sessions/revoke",
        "/api/v1/users/{VICTIM2}/sessions/revoke",
        "d",
        "",
    ),
    (
        "POST",
        "/api/v1/users",
        "/api/v1/users",
        "d",
        r#"{"user":"new-api","roles":["operator"]}"#,
    ),
    (
        "POST",
        "/api/v1/users/{id}/roles",
        "/api/v1/users/{VICTIM4}/roles",
        "d",
        r#"{"roles":[]}"#,
    ),
    (
        "POST",
        "/api/v1/users/{id}/enrolment",
        "/api/v1/users/{VICTIM5}/enrolment",
        "d",
        "",
    ),
    ("GET", "/api/v1/grants", "/api/v1/grants", "d", ""),
    (
        "POST",
        "/api/v1/grants/{id}/approve",
        "/api/v1/grants/{GRANT1}/approve",
        "d",
        "",
    ),
    // Enrolment needs no session, only the code.
    (
        "POST",
        "/api/v1/enrol",
        "/api/v1/enrol",
        "*",
        r#"{"user":"newbie1","code":"{CODE1}","password":"a long password"}"#,
    ),
    // Every account changes its own password (here: a too short one, refused as invalid, so the
    // sessions of the rows after this one live on).
    (
        "POST",
        "/api/v1/password",
        "/api/v1/password",
        "orapjudc",
        r#"{"current":"a long password","new":"short"}"#,
    ),
    ("GET", "/api/v1/session", "/api/v1/session", "orapjudc", ""),
    // Who applied and who decides; a judge who does not decide D1 is off its team.
    (
        "GET",
        "/api/v1/permits/{id}/photos",
        "/api/v1/permits/{D1}/photos",
        "apJ",
        "",
    ),
    (
        "GET",
        "/api/v1/permits/{id}/photos/{photo}",
        "/api/v1/permits/{D1}/photos/{PH1}",
        "apJ",
        "",
    ),
    // Without a photo: an allowed caller gets 400 before any inference.
    (
        "PUT",
        "/api/v1/permits/{id}/persons/{person}/photos/{photo}",
        "/api/v1/permits/{D1}/persons/p1/photos/ph1",
        "ap",
        "",
    ),
    ("GET", "/api/v1/audit", "/api/v1/audit", "ud", ""),
    (
        "GET",
        "/api/v1/audit/export",
        "/api/v1/audit/export",
        "ud",
        "",
    ),
    (
        "POST",
        "/api/v1/evaluations",
        "/api/v1/evaluations",
        "u",
        r#"{"sample":10}"#,
    ),
    // Not a tool use: an auditor or admin gets 4xx for the hash, every other role 403.
    (
        "POST",
        "/api/v1/tools/use",
        "/api/v1/tools/use",
        "ud",
        r#"{"tool":"detect","files":["not a hash"],"embeddings":false}"#,
    ),
    // Not a table: an admin gets 422, every other role 403.
    (
        "POST",
        "/api/v1/calibrations",
        "/api/v1/calibrations",
        "d",
        "{}",
    ),
    (
        "POST",
        "/api/v1/audit/verify",
        "/api/v1/audit/verify",
        "ud",
        "",
    ),
    (
        "GET",
        "/api/v1/reports/annual/{year}",
        "/api/v1/reports/annual/2026?format=csv",
        "ud",
        "",
    ),
    (
        "GET",
        "/api/v1/reports/annual/{year}/owners",
        "/api/v1/reports/annual/2026/owners?format=csv",
        "ud",
        "",
    ),
    (
        "GET",
        "/api/v1/reports/sla",
        "/api/v1/reports/sla?owner=municipality:Stockholm&from=2026-08-01&until=2026-08-31&format=pdf",
        "u",
        "",
    ),
    ("GET", "/api/v1/subjects", "/api/v1/subjects", "apju", ""),
    // The applicant's steps need the applicant's or prosecutor's role, the decisions a
    // prosecutor's or judge's; for the others the role check refuses first, and for those roles a
    // task that does not exist is a 404.
    (
        "POST",
        "/api/v1/subjects/{id}/defer",
        "/api/v1/subjects/S-none/defer",
        "ap",
        r#"{"reason":"secrecy","until":"2026-12-01T00:00:00Z"}"#,
    ),
    (
        "POST",
        "/api/v1/subjects/{id}/done",
        "/api/v1/subjects/S-none/done",
        "ap",
        "",
    ),
    (
        "POST",
        "/api/v1/subjects/{id}/defer/decision",
        "/api/v1/subjects/S-none/defer/decision",
        "pj",
        r#"{"approve":true,"request_at":"2026-08-03T10:00:00Z"}"#,
    ),
    (
        "POST",
        "/api/v1/subjects/{id}/waiver",
        "/api/v1/subjects/S-none/waiver",
        "ap",
        r#"{"reasons":"the person has died"}"#,
    ),
    (
        "POST",
        "/api/v1/subjects/{id}/waiver/decision",
        "/api/v1/subjects/S-none/waiver/decision",
        "pj",
        r#"{"approve":true,"reasons":"shown","request_at":"2026-08-03T10:00:00Z"}"#,
    ),
    (
        "GET",
        "/api/v1/imy/notifications",
        "/api/v1/imy/notifications",
        "ud",
        "",
    ),
    (
        "GET",
        "/api/v1/imy/notifications/{id}",
        "/api/v1/imy/notifications/N-none",
        "ud",
        "",
    ),
    (
        "GET",
        "/api/v1/imy/notifications/{id}/pdf",
        "/api/v1/imy/notifications/N-none/pdf",
        "ud",
        "",
    ),
    (
        "POST",
        "/api/v1/imy/notifications/{id}/sent",
        "/api/v1/imy/notifications/N-none/sent",
        "d",
        "",
    ),
    (
        "POST",
        "/api/v1/imy/notifications/{id}/acknowledged",
        "/api/v1/imy/notifications/N-none/acknowledged",
        "d",
        r#"{"reference":"DI-1"}"#,
    ),
    // Only the metrics token opens it; a session token of any role is refused.
    ("GET", "/metrics", "/metrics", "", ""),
    // ---- pages ----
    ("GET", "/", "/", "*", ""),
    ("GET", "/login", "/login", "*", ""),
    (
        "POST",
        "/login",
        "/login",
        "*",
        "user=op&password=a+long+password&totp={OTP}",
    ),
    ("GET", "/enrol", "/enrol", "*", ""),
    (
        "POST",
        "/enrol",
        "/enrol",
        "*",
        "user=newbie2&code={CODE2}&password=a+long+password&again=a+long+password",
    ),
    ("GET", "/password", "/password", "orapjudc", ""),
    (
        "POST",
        "/password",
        "/password",
        "orapjudc",
        "current=a+long+password&new=a+long+password+2&again=differs",
    ),
    ("POST", "/logout", "/logout", "orapjudc", ""),
    ("GET", "/lang/{code}", "/lang/en?back=/login", "*", ""),
    ("GET", "/operator", "/operator", "o", ""),
    (
        "POST",
        "/operator/alerts/{id}/dispatch",
        "/operator/alerts/{X3}/dispatch",
        "o",
        "",
    ),
    ("GET", "/ui/stream", "/ui/stream", "or", ""),
    (
        "GET",
        "/ui/fragments/alerts",
        "/ui/fragments/alerts",
        "o",
        "",
    ),
    (
        "GET",
        "/ui/fragments/cameras",
        "/ui/fragments/cameras",
        "o",
        "",
    ),
    ("GET", "/ui/fragments/map", "/ui/fragments/map", "o", ""),
    (
        "GET",
        "/ui/fragments/review",
        "/ui/fragments/review",
        "r",
        "",
    ),
    (
        "GET",
        "/ui/fragments/permits",
        "/ui/fragments/permits",
        "ap",
        "",
    ),
    (
        "GET",
        "/ui/alerts/{id}/{which}",
        "/ui/alerts/{X3}/reference",
        "rapj",
        "",
    ),
    ("GET", "/review", "/review", "r", ""),
    (
        "POST",
        "/review/{id}",
        "/review/{X2}",
        "r",
        "verdict=confirm&reason=same+face",
    ),
    ("GET", "/permits", "/permits", "ap", ""),
    (
        "POST",
        "/permits",
        "/permits",
        "ap",
        "purpose=victim_search&case=5000-K1-26&person=p&source=s&start=2026-08-03T08:00&end=2026-08-05T08:00&necessity=n&proportionality=p&fria=f&eudb=e&cam_cam-1=on",
    ),
    (
        "POST",
        "/permits/{id}/{action}",
        "/permits/{D3}/apply",
        "a",
        "",
    ),
    (
        "GET",
        "/permits/{id}/photos",
        "/permits/{D1}/photos",
        "apJ",
        "",
    ),
    // Not a multipart form: the applicant gets 400 after every check, before anything is read;
    // the decider of the draft D4 gets 403 (only its applicant enrols).
    (
        "POST",
        "/permits/{id}/photos/{photo}",
        "/permits/{D4}/photos/{PH4}",
        "a",
        "",
    ),
    (
        "GET",
        "/ui/permits/{id}/photos/{photo}",
        "/ui/permits/{D1}/photos/{PH1}",
        "apJ",
        "",
    ),
    ("GET", "/decide", "/decide", "pj", ""),
    (
        "POST",
        "/decide/{id}",
        "/decide/{A2}",
        "pJ",
        "outcome=grant&reasons=necessary",
    ),
    (
        "POST",
        "/decide/{id}/amendment",
        "/decide/{G2}/amendment",
        "pJ",
        "number=1&outcome=refuse&reasons=not+needed",
    ),
    ("GET", "/procedure", "/procedure", "apjc", ""),
    (
        "POST",
        "/procedure/{id}/{action}",
        "/procedure/{A1}/opinion",
        "C",
        "position=opposes&text=t",
    ),
    ("GET", "/audit", "/audit", "ud", ""),
    ("POST", "/audit/verify", "/audit/verify", "ud", ""),
    (
        "GET",
        "/audit/imy/{id}/{what}",
        "/audit/imy/N-none/pdf",
        "ud",
        "",
    ),
    (
        "POST",
        "/audit/imy/{id}/{what}",
        "/audit/imy/N-none/acknowledged",
        "d",
        "reference=DI-1",
    ),
    (
        "POST",
        "/subjects/{id}/{step}",
        "/subjects/S-none/done",
        "ap",
        "",
    ),
    (
        "GET",
        "/audit/annual",
        "/audit/annual?year=2026&format=csv",
        "ud",
        "",
    ),
    ("GET", "/admin", "/admin", "d", ""),
    (
        "POST",
        "/admin/users",
        "/admin/users",
        "d",
        "user=new-ui&role_operator=on",
    ),
    (
        "POST",
        "/admin/grants/{id}/approve",
        "/admin/grants/{GRANT2}/approve",
        "d",
        "",
    ),
    (
        "POST",
        "/admin/users/{id}/{step}",
        "/admin/users/{VICTIM3}/revoke",
        "d",
        "",
    ),
    (
        "POST",
        "/admin/cameras",
        "/admin/cameras",
        "d",
        "id=cam-ui&name=n&owner=police&lat=59.3&lon=18.0&url=rtsp%3A%2F%2F127.0.0.1%2Fy",
    ),
    ("GET", "/static/app.css", "/static/app.css", "*", ""),
    ("GET", "/static/htmx.min.js", "/static/htmx.min.js", "*", ""),
    (
        "GET",
        "/static/htmx-ext-sse.min.js",
        "/static/htmx-ext-sse.min.js",
        "*",
        "",
    ),
];

struct Head {
    status: u16,
    location: Option<String>,
}

/// The API, and the metrics page, which like it takes a bearer token and answers JSON errors.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// The reform's court procedure through the pages: the court appoints the public counsel and
/// records the hearing, the counsel reads the application and opposes it, the court grants, the
/// counsel appeals to a higher judge, who overturns the grant: use stops and the data is purged.
/// Each step is offered only to whoever may take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_court_procedure_runs_through_the_pages_under_the_reform() {
    let (_dir, _clock, control) = common::control_in(&mandat_law::SWEDEN_COURT_FOR_ALL).await;
    with_camera_1(
        &control,
        &[
            ("pros", Role::Prosecutor),
            ("judge", Role::Judge),
            ("counsel", Role::Counsel),
            ("higher", Role::Judge),
        ],
    )
    .await;
    let pros = Actor::new("pros", &[Role::Prosecutor]);
    let id = common::drafted(&control, &pros).await;
    control
        .assign_team(
            &mandat_testkit::session(&control, &pros),
            &id,
            "judge",
            Some(Role::Judge),
            "t",
        )
        .await
        .unwrap();
    control
        .apply(&mandat_testkit::session(&control, &pros), &id, "t")
        .await
        .unwrap();
    let addr = common::serve(&control).await;
    let pid = id.clone();
    tokio::task::spawn_blocking(move || {
        let id = pid;
        let session = |user: &str| {
            let token = login(addr, user);
            let csrf = csrf(addr, &token);
            (token, csrf)
        };
        let page = |s: &(String, String)| {
            let mut body = String::new();
            let h = request(addr, "GET", "/procedure", Some(&s.0), "", Some(&mut body));
            assert_eq!(h.status, 200, "{body}");
            body
        };
        let post = |s: &(String, String), path: &str, form: &str| {
            let mut body = String::new();
            let h = request(
                addr,
                "POST",
                path,
                Some(&s.0),
                &format!("csrf={}&{form}", s.1),
                Some(&mut body),
            );
            (h.status, body)
        };
        let (judge, counsel, higher) = (session("judge"), session("counsel"), session("higher"));
        // The counsel lands on the page, and sees nothing before being appointed.
        let h = request(addr, "GET", "/", Some(&counsel.0), "", None);
        assert_eq!(h.location.as_deref(), Some("/procedure"));
        assert!(!page(&counsel).contains(&id));
        // The court's forms; a grant before the counsel's opinion is refused.
        assert!(page(&judge).contains(&format!("/procedure/{id}/counsel")));
        let (st, body) = post(&judge, &format!("/decide/{id}"), "outcome=grant&reasons=r");
        assert_eq!(st, 422, "{body}");
        assert!(
            body.contains("public_counsel") || body.contains("public counsel"),
            "{body}"
        );
        let (st, body) = post(&judge, &format!("/procedure/{id}/counsel"), "user=counsel");
        assert_eq!(st, 303, "{body}");
        // The counsel reads the application, never the photos, and opposes it.
        let seen = page(&counsel);
        assert!(seen.contains(&id) && seen.contains("K-123456-26"), "{seen}");
        assert!(seen.contains(&format!("/procedure/{id}/opinion")));
        let (st, _) = post(
            &counsel,
            &format!("/procedure/{id}/opinion"),
            "position=maybe&text=t",
        );
        assert_eq!(st, 400);
        let (st, body) = post(
            &counsel,
            &format!("/procedure/{id}/opinion"),
            "position=opposes&text=too+wide",
        );
        assert_eq!(st, 303, "{body}");
        let (st, body) = post(
            &judge,
            &format!("/procedure/{id}/hearing"),
            "present=prosecutor%2C+counsel&outcome=heard+both",
        );
        assert_eq!(st, 303, "{body}");
        let (st, body) = post(
            &judge,
            &format!("/decide/{id}"),
            "outcome=grant&reasons=necessary",
        );
        assert_eq!(st, 303, "{body}");
        // The counsel, whom the grant went against, appeals it to a judge with no part in it.
        assert!(page(&counsel).contains(&format!("/procedure/{id}/appeal")));
        let (st, body) = post(
            &counsel,
            &format!("/procedure/{id}/appeal"),
            "to=judge&grounds=disproportionate",
        );
        assert_eq!(st, 422, "the decider is no higher instance: {body}");
        assert!(
            body.contains("higher_instance") || body.contains("no part"),
            "{body}"
        );
        let (st, body) = post(
            &counsel,
            &format!("/procedure/{id}/appeal"),
            "to=higher&grounds=disproportionate",
        );
        assert_eq!(st, 303, "{body}");
        let seen = page(&higher);
        assert!(
            seen.contains("disproportionate") && seen.contains("too wide"),
            "{seen}"
        );
        let (st, body) = post(
            &higher,
            &format!("/procedure/{id}/appeal-decision"),
            "outcome=overturned&reasons=not+proportionate",
        );
        assert_eq!(st, 303, "{body}");
        assert!(!page(&higher).contains(&format!("/procedure/{id}/appeal-decision")));
    })
    .await
    .unwrap();
    let p = mandat_testkit::store(&control).permit(&id).await.unwrap();
    assert_eq!(p.status, mandat_law::Status::Overturned);
    assert!(p.purged);
    assert_eq!(
        mandat_testkit::store(&control)
            .biometric_rows(&id)
            .await
            .unwrap(),
        0
    );
}

/// An admin `adm` who registers cam-1, and `users` with their roles: the start of the page
/// tests. Returns the admin.
async fn with_camera_1(control: &Control, users: &[(&str, Role)]) -> Actor {
    let admin = Actor::new("adm", &[Role::Admin]);
    common::provision(control, "adm", PW, &[Role::Admin])
        .await
        .unwrap();
    for (user, role) in users {
        common::provision(control, user, PW, &[*role])
            .await
            .unwrap();
    }
    common::camera_1(control, &admin).await;
    admin
}

/// One request; reads the head only (streams never end), or the whole body when `body_out` asks.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
    body_out: Option<&mut String>,
) -> Head {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (auth_header, ctype) = match (auth, is_api(path)) {
        (Some(t), true) => (format!("Authorization: Bearer {t}\r\n"), "application/json"),
        (Some(t), false) => (
            format!("Cookie: __Host-mandat_session={t}\r\n"),
            "application/x-www-form-urlencoded",
        ),
        (None, true) => (String::new(), "application/json"),
        (None, false) => (String::new(), "application/x-www-form-urlencoded"),
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth_header}Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if body_out.is_none() && raw.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if let Some(out) = body_out {
        *out = rest.to_string();
    }
    let location = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("location: ")
            .map(str::to_string)
    });
    Head {
        status: head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        location,
    }
}

async fn fixture(control: &Control) -> HashMap<&'static str, String> {
    let mut f_users = Vec::new();
    let admin = Actor::new("adm", &[Role::Admin]);
    common::provision(control, "adm", PW, &[Role::Admin])
        .await
        .unwrap();
    for (_, user, role) in ROLES.iter().filter(|(c, _, _)| *c != 'd') {
        common::provision(control, user, PW, &[*role])
            .await
            .unwrap();
        // The same role at Säkerhetspolisen: it sees nothing of Polismyndigheten's.
        mandat_testkit::provision(
            control,
            &format!("sapo-{user}"),
            PW,
            &[*role],
            mandat_law::permit::Agency::Sakerhetspolisen,
        )
        .await
        .unwrap();
    }
    common::camera_1(control, &admin).await;
    // Accounts the admin rows disable or sign out, so no other row loses its user.
    for (name, user) in [
        ("VICTIM1", "victim1"),
        ("VICTIM2", "victim2"),
        ("VICTIM3", "victim3"),
        ("VICTIM4", "victim4"),
        ("VICTIM5", "victim5"),
    ] {
        common::provision(control, user, PW, &[Role::Operator])
            .await
            .unwrap();
        f_users.push((name, user.to_string()));
    }
    let app = Actor::new("app", &[Role::Applicant]);
    let pros = Actor::new("pros", &[Role::Prosecutor]);
    let mut f: HashMap<&'static str, String> = f_users.into_iter().collect();
    // Grants asked for by a second admin, for `adm` to approve; accounts waiting for enrolment.
    let adm2 = Actor::new("adm2", &[Role::Admin]);
    common::provision(control, "adm2", PW, &[Role::Admin])
        .await
        .unwrap();
    // A worker's signing request for the enrol row, and a worker the second admin enrolled, for
    // `adm` to approve and then disable.
    let csr = |id| mandat_control::pki::worker_request(id).unwrap().1;
    let json = serde_json::to_string(&csr("w-api")).unwrap();
    f.insert("CSR", json.trim_matches('"').to_string());
    control
        .enrol_worker(
            &mandat_testkit::session(control, &adm2),
            "w-fixture",
            &csr("w-fixture"),
            1,
            "t",
        )
        .await
        .unwrap();
    for (grant, code, user) in [
        ("GRANT1", "CODE1", "newbie1"),
        ("GRANT2", "CODE2", "newbie2"),
    ] {
        let e = control
            .create_account(
                &mandat_testkit::session(control, &adm2),
                user,
                &[Role::Operator],
                mandat_law::permit::Agency::Polismyndigheten,
                "t",
            )
            .await
            .unwrap();
        f.insert(grant, e.grant.unwrap());
        f.insert(code, e.enrolment_code);
    }
    // One permit per state-changing route, so no row's allowed request changes another row's.
    for (name, state) in [
        ("D1", "draft"),
        ("D2", "draft"),
        ("D3", "draft"),
        ("D4", "draft"),
        ("A1", "applied"),
        ("A2", "applied"),
        ("G", "granted"),
        ("G2", "granted"),
    ] {
        let id = match state {
            "draft" => common::drafted(control, &app).await,
            "granted" => common::granted(control, &app, &pros).await,
            _ => {
                let id = common::drafted(control, &app).await;
                control
                    .apply(&mandat_testkit::session(control, &app), &id, "t")
                    .await
                    .unwrap();
                id
            }
        };
        f.insert(name, id);
    }
    // The photos of D1 and D4, enrolled when they were drafted.
    for (d, ph) in [("D1", "PH1"), ("D4", "PH4")] {
        let p = mandat_testkit::store(control).permit(&f[d]).await.unwrap();
        f.insert(ph, p.application.persons[0].photos[0].id.clone());
    }
    for x in ["X1", "X2", "X3"] {
        control
            .raise_alert(common::alert(control, x, &f["G"]).await)
            .await
            .unwrap();
        f.insert(x, x.to_string());
    }
    // The same roles in the same agency, made after the permits: on none of their teams.
    for (_, user, role) in ROLES.iter().filter(|(c, _, _)| TEAM_ROLES.contains(*c)) {
        common::provision(control, &format!("outside-{user}"), PW, &[*role])
            .await
            .unwrap();
    }
    f.insert(
        "APPLICATION",
        serde_json::to_string(&application()).unwrap(),
    );
    f
}

/// The roles that work on a permit as its team (auditors oversee every permit of their agency;
/// admins read none).
const TEAM_ROLES: &str = "orapj";

/// A request body as its route takes it: JSON for the API, and for page forms the session's CSRF
/// token in front of the fields.
fn form_body(is_api: bool, method: &str, body: &str, csrf: &str) -> String {
    if is_api || method == "GET" {
        body.to_string()
    } else if body.is_empty() {
        format!("csrf={csrf}")
    } else {
        format!("csrf={csrf}&{body}")
    }
}

/// The template with fixture names replaced; `{OTP}` becomes a fresh one-time code of `op` on the
/// server at `f["ADDR"]`.
fn fill(template: &str, f: &HashMap<&'static str, String>) -> String {
    let mut s = template.to_string();
    if s.contains("{OTP}") {
        let addr: SocketAddr = f["ADDR"].parse().unwrap();
        s = s.replace("{OTP}", &common::otp(addr, "op"));
    }
    for (k, v) in f {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn login(addr: SocketAddr, user: &str) -> String {
    let mut body = String::new();
    let h = request(
        addr,
        "POST",
        "/api/v1/login",
        None,
        &common::login_body(addr, user, PW),
        Some(&mut body),
    );
    assert_eq!(h.status, 200, "login {user}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// The CSRF token of a session, as a page gives it to the browser.
fn csrf(addr: SocketAddr, token: &str) -> String {
    let mut home = String::new();
    let h = request(addr, "GET", "/", Some(token), "", None);
    let path = h.location.expect("/ redirects to the role's page");
    request(addr, "GET", &path, Some(token), "", Some(&mut home));
    let at = home
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a form with a CSRF token on {path}: {home}"))
        + 19;
    home[at..at + 64].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_role() {
    // The table covers exactly the server's routes.
    let table: BTreeSet<(&str, &str)> = MATRIX.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(table.len(), MATRIX.len(), "a route is listed twice");
    let served: BTreeSet<(&str, &str)> = mandat_web::endpoints().into_iter().collect();
    let missing: Vec<_> = served.difference(&table).collect();
    let stale: Vec<_> = table.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorisation matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );

    let (_dir, _clock, control) = common::control().await;
    let mut f = fixture(&control).await;
    let addr = common::serve(&control).await;
    f.insert("ADDR", addr.to_string());

    tokio::task::spawn_blocking(move || {
        let sessions: HashMap<char, (String, String)> = ROLES
            .iter()
            .map(|(c, user, _)| {
                let token = login(addr, user);
                let csrf = csrf(addr, &token);
                (*c, (token, csrf))
            })
            .collect();
        // The other agency's users, one per role but admin (admins read no permit anyway).
        let other_agency: HashMap<char, (String, String)> = ROLES
            .iter()
            .filter(|(c, _, _)| *c != 'd')
            .map(|(c, user, _)| {
                let token = login(addr, &format!("sapo-{user}"));
                let csrf = csrf(addr, &token);
                (*c, (token, csrf))
            })
            .collect();
        // This agency's users of the same roles who are on no permit's team.
        let outside_team: HashMap<char, (String, String)> = ROLES
            .iter()
            .filter(|(c, _, _)| TEAM_ROLES.contains(*c))
            .map(|(c, user, _)| {
                let token = login(addr, &format!("outside-{user}"));
                let csrf = csrf(addr, &token);
                (*c, (token, csrf))
            })
            .collect();
        let mut outsiders = 0;
        let mut off_team = 0;
        let mut failures = Vec::new();
        let mut checked = 0;
        let mut ghosts = 0;
        for (method, route, path_template, allow, body) in MATRIX {
            let path = fill(path_template, &f);
            let is_api = is_api(&path);
            let send = |who: Option<char>| {
                // Logging out ends the session: use a fresh one for it.
                let (token, csrf) = match who {
                    None => (None, String::new()),
                    Some(c) if route.ends_with("logout") => {
                        let user = ROLES.iter().find(|r| r.0 == c).unwrap().1;
                        let t = login(addr, user);
                        let k = csrf(addr, &t);
                        (Some(t), k)
                    }
                    Some(c) => {
                        let (t, k) = &sessions[&c];
                        (Some(t.clone()), k.clone())
                    }
                };
                let body = if token.is_none() {
                    fill(body, &f)
                } else {
                    form_body(is_api, method, &fill(body, &f), &csrf)
                };
                let mut answer = String::new();
                let h = request(
                    addr,
                    method,
                    &path,
                    token.as_deref(),
                    &body,
                    (!route.ends_with("/stream")).then_some(&mut answer),
                );
                (h, answer)
            };
            let to_login = |h: &Head| {
                (300..400).contains(&h.status) && h.location.as_deref() == Some("/login")
            };
            // Without a session.
            let (h, _) = send(None);
            checked += 1;
            let ok = if *allow == "*" {
                h.status < 400
            } else if is_api {
                h.status == 401
            } else {
                to_login(&h)
            };
            if !ok {
                failures.push(format!("{method} {path} without a session: {}", h.status));
            }
            if *allow == "*" {
                continue;
            }
            // The object dimension: the right role at the other agency finds nothing behind an
            // id of this one (404, as for an id that does not exist). Before the allowed requests,
            // which may change what the id points to.
            if path_template.contains('{') {
                for c in allow.chars().filter(|c| other_agency.contains_key(c)) {
                    let (token, csrf) = &other_agency[&c];
                    let body = form_body(is_api, method, &fill(body, &f), csrf);
                    let h = request(addr, method, &path, Some(token), &body, None);
                    checked += 1;
                    outsiders += 1;
                    if h.status != 404 {
                        failures.push(format!(
                            "{method} {path} as sapo's {c}: {} but expected 404 (another agency's)",
                            h.status
                        ));
                    }
                }
                // The right role in this agency, off the permit's team: 404 as well.
                let permit_route = route.contains("/permits/{id}")
                    || route.contains("/alerts/{id}")
                    || route.contains("/subjects/{id}")
                    || route.contains("/decide/{id}");
                for c in allow.chars().filter(|c| permit_route && outside_team.contains_key(c)) {
                    let (token, csrf) = &outside_team[&c];
                    let body = form_body(is_api, method, &fill(body, &f), csrf);
                    let h = request(addr, method, &path, Some(token), &body, None);
                    checked += 1;
                    off_team += 1;
                    if h.status != 404 {
                        failures.push(format!(
                            "{method} {path} as {c} off the team: {} but expected 404",
                            h.status
                        ));
                    }
                }
            }
            // Denied roles first: a refused request changes nothing, an allowed one may.
            let mut order: Vec<&(char, &str, Role)> = ROLES.iter().collect();
            order.sort_by_key(|(c, _, _)| allow.contains(*c));
            for (c, user, _) in order {
                let (h, answer) = send(Some(*c));
                checked += 1;
                let allowed = allow.contains(*c);
                // Logging out ends at the login page: there it is the success.
                let ok = if allowed {
                    !matches!(h.status, 401 | 403)
                        && h.status < 500
                        && (!to_login(&h) || *route == "/logout")
                } else if allow.contains(c.to_ascii_uppercase()) {
                    h.status == 404
                } else {
                    h.status == 403
                };
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {user}: {} but expected {}",
                        h.status,
                        if allowed {
                            "allowed"
                        } else if allow.contains(c.to_ascii_uppercase()) {
                            "404 (off the team)"
                        } else {
                            "403"
                        }
                    ));
                }
                // Who before what: a role the permissions table refuses gets the same 403 for
                // an id that does not exist, so the answer never tells which ids exist. (Refusals
                // that depend on the permit, such as the wrong decider, are the team's rule.)
                let by_role = answer.contains("not_permitted") || answer.contains("needs the role");
                if !allowed && by_role && path_template.contains('{') {
                    let ghost = fill(
                        path_template,
                        &f.keys().map(|k| (*k, "zz-none".to_string())).collect(),
                    );
                    let (token, csrf) = &sessions[c];
                    let body = form_body(is_api, method, &fill(body, &f), csrf);
                    let g = request(addr, method, &ghost, Some(token), &body, None);
                    checked += 1;
                    ghosts += 1;
                    if g.status != 403 {
                        failures.push(format!(
                            "{method} {ghost} as {user}: {} for an id that does not exist, but 403 for one that does",
                            g.status
                        ));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {checked} checks failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(checked > 300, "only {checked} checks ran");
        assert!(ghosts >= 75, "only {ghosts} refusals were tried on ids that do not exist");
        assert!(outsiders >= 20, "only {outsiders} requests from the other agency");
        assert!(off_team >= 20, "only {off_team} requests from off the teams");
        // Every id the lists give the other agency's users: none of this agency's.
        let ours: Vec<&String> = f.values().filter(|v| v.starts_with("P-") || v.starts_with('X')).collect();
        for (c, (token, _)) in other_agency.iter().chain(&outside_team) {
            for list in ["/api/v1/permits", "/api/v1/alerts", "/api/v1/subjects"] {
                let mut body = String::new();
                let h = request(addr, "GET", list, Some(token), "", Some(&mut body));
                if h.status == 403 {
                    continue;
                }
                assert_eq!(h.status, 200, "{list} as sapo's {c}: {body}");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let ids: Vec<&str> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|x| x["id"].as_str())
                    .collect();
                for id in &ids {
                    assert!(!ours.iter().any(|o| o == id), "{list} as outsider {c} gave {id}");
                }
            }
        }
    })
    .await
    .unwrap();
}

/// A form without the session's CSRF token changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_csrf_token_are_refused() {
    let (_dir, _clock, control) = common::control().await;
    let f = fixture(&control).await;
    let addr = common::serve(&control).await;
    let users_before = control
        .users(&mandat_testkit::session(
            &control,
            &Actor::new("adm", &[Role::Admin]),
        ))
        .await
        .unwrap()
        .len();
    let d1 = f["D1"].clone();
    tokio::task::spawn_blocking(move || {
        let adm = login(addr, "adm");
        let app = login(addr, "app");
        let other = login(addr, "op");
        let foreign = csrf(addr, &other);
        for (token, path, body) in [
            (
                &adm,
                "/admin/users".to_string(),
                "user=x&password=a+long+password&role_operator=on".to_string(),
            ),
            // Another session's token is no good either.
            (
                &adm,
                "/admin/users".to_string(),
                format!("csrf={foreign}&user=y&password=a+long+password&role_operator=on"),
            ),
            (&app, format!("/permits/{d1}/apply"), "csrf=00".to_string()),
        ] {
            let h = request(addr, "POST", &path, Some(token), &body, None);
            assert_eq!(h.status, 403, "POST {path} with {body}");
        }
    })
    .await
    .unwrap();
    let admin = Actor::new("adm", &[Role::Admin]);
    assert_eq!(
        control
            .users(&mandat_testkit::session(&control, &admin))
            .await
            .unwrap()
            .len(),
        users_before
    );
    let p = control
        .permit(
            &mandat_testkit::session(&control, &Actor::new("app", &[Role::Applicant])),
            &f["D1"],
            "t",
        )
        .await
        .unwrap();
    assert_eq!(p.status, mandat_law::Status::Draft);
}

/// Metrics carry numbers by camera and state, never a permit, person or user; the operator sees the
/// newest alert first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_no_personal_data_and_alerts_list_newest_first() {
    let (_dir, clock, control) = common::control().await;
    let f = fixture(&control).await;
    clock.advance(60_000);
    control
        .raise_alert(common::alert(&control, "X4", &f["G"]).await)
        .await
        .unwrap();
    let addr = common::serve(&control).await;
    let permit = f["G"].clone();
    let person = common::person_of(&control, &permit).await.0;
    tokio::task::spawn_blocking(move || {
        let mut body = String::new();
        let h = request(
            addr,
            "GET",
            "/metrics",
            Some(common::METRICS_TOKEN),
            "",
            Some(&mut body),
        );
        assert_eq!(h.status, 200);
        assert!(
            body.contains("mandat_alerts{state=\"candidate\"} 4"),
            "{body}"
        );
        assert!(
            body.contains("mandat_review_latency_seconds_count 0"),
            "{body}"
        );
        // Quoted, as a label value would be.
        let quoted = |v: &str| format!("\"{v}\"");
        for secret in [
            quoted(&permit),
            quoted(&person),
            quoted("app"),
            quoted("rev"),
            "X1".into(),
        ] {
            assert!(!body.contains(&secret), "metrics name {secret}: {body}");
        }
        let op = login(addr, "op");
        let mut page = String::new();
        request(addr, "GET", "/operator", Some(&op), "", Some(&mut page));
        let newest = page.find("id=\"alert-X4\"").expect("X4 listed");
        let older = page.find("id=\"alert-X1\"").expect("X1 listed");
        assert!(newest < older, "newest alert first");
    })
    .await
    .unwrap();
}

/// A suspect location granted by the court, its person identified twice (each verified by two
/// reviewers): one task. On the pages the applicant defers it and asks not to notify; the judge
/// who granted sees the request with its reasons on the decision page and refuses it with
/// reasons; the applicant records the notification; the auditor's page lists what is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_notifications_are_deferred_waived_and_completed_on_the_pages() {
    use mandat_law::permit::Purpose;
    let (_dir, _clock, control) = common::control().await;
    with_camera_1(
        &control,
        &[
            ("pros", Role::Prosecutor),
            ("judge", Role::Judge),
            ("rev", Role::Reviewer),
            ("rev2", Role::Reviewer),
            ("aud", Role::Auditor),
        ],
    )
    .await;
    let pros = Actor::new("pros", &[Role::Prosecutor]);
    let mut app = application();
    app.purpose = Purpose::SuspectLocation;
    let app = mandat_testkit::with_grounds(app);
    let p = control
        .draft(&mandat_testkit::session(&control, &pros), app, "t")
        .await
        .unwrap();
    common::enrol_first_photo(&control, &pros, &p.id).await;
    for (user, role) in [
        ("judge", Role::Judge),
        ("rev", Role::Reviewer),
        ("rev2", Role::Reviewer),
    ] {
        control
            .assign_team(
                &mandat_testkit::session(&control, &pros),
                &p.id,
                user,
                Some(role),
                "t",
            )
            .await
            .unwrap();
    }
    control
        .apply(&mandat_testkit::session(&control, &pros), &p.id, "t")
        .await
        .unwrap();
    control
        .decide(
            &mandat_testkit::session(&control, &Actor::new("judge", &[Role::Judge])),
            &p.id,
            mandat_law::Outcome::Grant,
            "ok",
            "t",
        )
        .await
        .unwrap();
    for x in ["X1", "X2"] {
        control
            .raise_alert(common::alert(&control, x, &p.id).await)
            .await
            .unwrap();
        for r in ["rev", "rev2"] {
            control
                .review(
                    &mandat_testkit::session(&control, &Actor::new(r, &[Role::Reviewer])),
                    x,
                    mandat_law::review::Verdict::Confirm,
                    "",
                    "t",
                )
                .await
                .unwrap();
        }
    }
    let id = mandat_law::subject::task_id(&p.id, &p.application.persons[0].id);
    let addr = common::serve(&control).await;
    let task = id.clone();
    let permit = p.id.clone();
    tokio::task::spawn_blocking(move || {
        let panel = |page: &str| {
            page[page.find("id=\"subjects\"").expect("the panel")..]
                .split("</section>")
                .next()
                .unwrap()
                .to_string()
        };
        let token = login(addr, "pros");
        let csrf_p = csrf(addr, &token);
        let mut page = String::new();
        request(addr, "GET", "/permits", Some(&token), "", Some(&mut page));
        assert_eq!(
            panel(&page)
                .matches(&format!("<td class=\"mono\">{task}</td>"))
                .count(),
            1,
            "one task: {page}"
        );
        let post = |token: &str, step: &str, body: String| {
            request(
                addr,
                "POST",
                &format!("/subjects/{task}/{step}"),
                Some(token),
                &body,
                None,
            )
            .status
        };
        // A deferral needs a reason and a date; a bad date is a clear refusal, not a change.
        assert_eq!(
            post(
                &token,
                "defer",
                format!("csrf={csrf_p}&reason=secrecy&until=soon")
            ),
            400
        );
        assert_eq!(
            post(
                &token,
                "defer",
                format!("csrf={csrf_p}&reason=the+investigation+is+ongoing&until=2026-10-01")
            ),
            303,
            "deferred"
        );
        assert_eq!(
            post(
                &token,
                "waiver",
                format!("csrf={csrf_p}&reasons=no+address+known")
            ),
            303
        );
        // The judge who granted sees it with its reasons on the decision page: approving and
        // refusing are separate forms, each naming the request shown.
        let judge = login(addr, "judge");
        let csrf_j = csrf(addr, &judge);
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&judge), "", Some(&mut page));
        let p = panel(&page);
        assert!(
            p.contains(task.as_str()) && p.contains("no address known"),
            "{p}"
        );
        assert_eq!(p.matches("/waiver_decision\"").count(), 2, "{p}");
        let at = p
            .split("name=\"request_at\" value=\"")
            .nth(1)
            .expect("the request shown");
        let at: i64 = at[..at.find('"').unwrap()].parse().unwrap();
        // The applicant cannot decide their own request.
        let decide = |approve: bool, reasons: &str, at: i64| {
            format!("approve={approve}&reasons={reasons}&request_at={at}")
        };
        assert_eq!(
            post(
                &token,
                "waiver_decision",
                format!("csrf={csrf_p}&{}", decide(true, "x", at))
            ),
            403
        );
        assert_eq!(
            post(
                &judge,
                "waiver_decision",
                format!("csrf={csrf_j}&{}", decide(false, "", at))
            ),
            422,
            "no reasons"
        );
        assert_eq!(
            post(
                &judge,
                "waiver_decision",
                format!("csrf={csrf_j}&{}", decide(true, "x", at - 1))
            ),
            422,
            "a request the judge was not shown"
        );
        assert_eq!(
            post(
                &judge,
                "waiver_decision",
                format!("csrf={csrf_j}&approve=&reasons=x&request_at={at}")
            ),
            400,
            "no way assumed"
        );
        assert_eq!(
            post(
                &judge,
                "waiver_decision",
                format!(
                    "csrf={csrf_j}&{}",
                    decide(false, "an+address+is+on+file", at)
                )
            ),
            303
        );
        // The auditor sees it open, with its deferral. Notifying waits for the end of the use;
        // once notified, the task is gone from the list.
        let aud = login(addr, "aud");
        let mut page = String::new();
        request(addr, "GET", "/audit", Some(&aud), "", Some(&mut page));
        assert!(panel(&page).contains(task.as_str()), "{page}");
        assert_eq!(
            post(&token, "done", format!("csrf={csrf_p}")),
            422,
            "the use runs"
        );
        let h = request(
            addr,
            "POST",
            &format!("/permits/{permit}/stop"),
            Some(&token),
            &format!("csrf={csrf_p}&reason=arrested"),
            None,
        );
        assert_eq!(h.status, 303, "stopped");
        assert_eq!(post(&token, "done", format!("csrf={csrf_p}")), 303, "done");
        let mut page = String::new();
        request(addr, "GET", "/audit", Some(&aud), "", Some(&mut page));
        assert!(!panel(&page).contains(task.as_str()), "{page}");
    })
    .await
    .unwrap();
    let tasks = control
        .subject_tasks(
            &mandat_testkit::session(&control, &Actor::new("aud", &[Role::Auditor])),
            "t",
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    let x = &tasks[0];
    assert_eq!(
        (x.task.id.as_str(), x.task.alerts.as_slice()),
        (id.as_str(), &["X1".to_string(), "X2".to_string()][..])
    );
    assert_eq!(x.task.deferrals.len(), 1);
    assert_eq!(x.due_at.to_rfc3339(), "2026-10-01T00:00:00Z");
    let w = x.task.waivers[0].decision.as_ref().unwrap();
    assert_eq!((w.by.as_str(), w.approved), ("judge", false));
    assert_eq!(x.closed, Some(mandat_law::subject::Closed::Notified));
}

/// The decider sees the area on a map drawn by the server (partner cameras marked), grants less
/// than was applied for by unticking, and decides an amendment on the same page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decider_sees_the_map_grants_in_part_and_decides_amendments_on_the_page() {
    let (_dir, clock, control) = common::control().await;
    let admin = with_camera_1(
        &control,
        &[("app", Role::Applicant), ("pros", Role::Prosecutor)],
    )
    .await;
    let partner = mandat_store::Camera {
        id: "cam-2".into(),
        name: "the square's east side".into(),
        location: Some((59.331, 18.062)),
        owner: "municipality:Stockholm".into(),
        enabled: true,
        agreement: Some(mandat_testkit::agreement()),
    };
    let adm = mandat_testkit::session(&control, &admin);
    control
        .add_camera(&adm, &partner, "rtsp://127.0.0.1/y", "t")
        .await
        .unwrap();
    let app = Actor::new("app", &[Role::Applicant]);
    let officer = mandat_testkit::session(&control, &app);
    let mut a = application();
    a.area.cameras.clear();
    a.area.polygon = Some(vec![
        (59.32, 18.05),
        (59.32, 18.07),
        (59.34, 18.07),
        (59.34, 18.05),
    ]);
    let p = control.draft(&officer, a, "t").await.unwrap();
    assert_eq!(p.application.area.cameras, ["cam-1", "cam-2"]);
    let (person, photo) = common::person_of(&control, &p.id).await;
    control
        .enrol(
            &officer,
            &p.id,
            &person,
            &photo,
            b"photo",
            &[0.1; 128],
            &mandat_testkit::QUALITY,
            "t",
        )
        .await
        .unwrap();
    control
        .assign_team(&officer, &p.id, "pros", Some(Role::Prosecutor), "t")
        .await
        .unwrap();
    control.apply(&officer, &p.id, "t").await.unwrap();
    // The engines measured cam-1 fit and cam-2 unfit.
    let sample =
        |camera: &str, fitness: &str, reason: &str| mandat_store::camera_days::HealthSample {
            camera: camera.into(),
            connected: true,
            frames_in: 1500,
            faces_seen: 12,
            faces_identifiable: 9,
            passers_by: 7,
            fitness: fitness.into(),
            reasons: vec![reason.into()],
        };
    // The time a sample stands for is the time since the last one, at most.
    clock.advance(60_000);
    control
        .record_health(
            &[
                sample("cam-1", "fit", "meets availability"),
                sample("cam-2", "unfit", "resolution 640x480 is under 1280x720"),
            ],
            60_000,
            "t",
        )
        .await
        .unwrap();
    // Twelve five-minute samples of cam-1: an hour measured.
    for _ in 0..12 {
        clock.advance(300_000);
        control
            .record_health(
                &[sample("cam-1", "fit", "meets availability")],
                300_000,
                "t",
            )
            .await
            .unwrap();
    }
    let addr = common::serve(&control).await;
    let id = p.id.clone();
    let person_box = "person_0=on";
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "pros");
        let csrf = csrf(addr, &token);
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&token), "", Some(&mut page));
        // Each camera's owner, agreement against the permit's period, and last fitness verdict.
        assert!(page.contains("KS 2025/123"), "the agreement: {page}");
        assert!(
            page.contains("avtalet gäller hela tillståndsperioden"),
            "{page}"
        );
        assert!(page.contains("class=\"fit-unfit\""), "{page}");
        assert!(page.contains("640x480 is under 1280x720"), "{page}");
        assert!(page.contains("class=\"fit-fit\""), "{page}");
        // Passers-by: cam-1 ran 61 minutes with 7 face tracks in each of 13 samples: 91 in 3,660 s.
        assert!(page.contains("Förbipasserande per dag, väntat: <strong class=\"num\">2148</strong>"), "{page}");
        assert!(page.contains("1 kameror utan mätning"), "{page}");
        let adm = login(addr, "adm");
        let mut admin_page = String::new();
        request(addr, "GET", "/admin", Some(&adm), "", Some(&mut admin_page));
        assert!(admin_page.contains("KS 2025/123"), "{admin_page}");
        assert!(page.contains("<svg"), "{page}");
        assert!(page.contains("<polygon class=\"area\""), "the polygon is drawn");
        assert!(
            page.contains("class=\"cam partner\"") && page.contains(">cam-2</text>"),
            "the partner camera is marked on the map: {page}"
        );
        // Untick cam-2: a grant of cam-1 only.
        let h = request(
            addr,
            "POST",
            &format!("/decide/{id}"),
            Some(&token),
            &format!(
                "csrf={csrf}&scope=1&cam_0=on&{person_box}&until=&outcome=grant&reasons=one+camera+is+enough"
            ),
            None,
        );
        assert_eq!(h.status, 303);
    })
    .await
    .unwrap();
    let p = mandat_testkit::store(&control).permit(&p.id).await.unwrap();
    assert_eq!(p.status, mandat_law::Status::Granted);
    assert_eq!(p.application.area.cameras, ["cam-1"]);
    // cam-1, now covered by a running permit, goes unfit: the team is told on its pages.
    let raised = control
        .record_health(
            &[sample("cam-1", "unfit", "delivers 2.0 frames/s (needs 5)")],
            60_000,
            "t",
        )
        .await
        .unwrap();
    assert_eq!(raised.len(), 1);
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "app");
        let mut page = String::new();
        request(addr, "GET", "/permits", Some(&token), "", Some(&mut page));
        assert!(page.contains("Kameror som blivit olämpliga"), "{page}");
        assert!(page.contains("delivers 2.0 frames/s"), "{page}");
    })
    .await
    .unwrap();
    let narrowed = p.decision.unwrap().narrowed.unwrap();
    assert_eq!(narrowed.cameras_not_granted, ["cam-2"]);

    // The applicant asks for cam-2 back; the prosecutor grants it on the page.
    control
        .file_amendment(&officer, &p.id, &["cam-2".into()], "she went east", "t")
        .await
        .unwrap();
    let id = p.id.clone();
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "pros");
        let csrf = csrf(addr, &token);
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&token), "", Some(&mut page));
        assert!(page.contains("she went east"), "{page}");
        assert!(page.contains(&format!("/decide/{id}/amendment")), "{page}");
        let h = request(
            addr,
            "POST",
            &format!("/decide/{id}/amendment"),
            Some(&token),
            &format!("csrf={csrf}&number=1&outcome=grant&reasons=needed"),
            None,
        );
        assert_eq!(h.status, 303);
    })
    .await
    .unwrap();
    let p = mandat_testkit::store(&control).permit(&p.id).await.unwrap();
    assert_eq!(p.application.area.cameras, ["cam-1", "cam-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_form_takes_one_reference_photo_per_line() {
    let (_dir, _clock, control) = common::control().await;
    with_camera_1(&control, &[("app", Role::Applicant)]).await;
    let addr = common::serve(&control).await;
    let form = |sources: &str| {
        format!(
            "purpose=victim_search&case=5000-K1-26&person=p&source={sources}&start=2026-08-03T08:00&end=2026-08-05T08:00&necessity=n&proportionality=p&fria=f&eudb=e&cam_cam-1=on"
        )
    };
    let (three, eleven) = (
        form("passport+register%0D%0A%0D%0Afamily+photo%0D%0Ajob+badge"),
        form(&["p"; 11].join("%0A")),
    );
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "app");
        let csrf = csrf(addr, &token);
        let h = request(
            addr,
            "POST",
            "/permits",
            Some(&token),
            &format!("csrf={csrf}&{three}"),
            None,
        );
        assert_eq!(h.status, 303);
        let mut page = String::new();
        let h = request(
            addr,
            "POST",
            "/permits",
            Some(&token),
            &format!("csrf={csrf}&{eleven}"),
            Some(&mut page),
        );
        assert_eq!(h.status, 400);
        assert!(page.contains("at most 10 reference photos"), "{page}");
    })
    .await
    .unwrap();
    // One permit, its person with three photos (the blank line is not one), named by the server.
    let permits = mandat_testkit::store(&control).permits().await.unwrap();
    assert_eq!(permits.len(), 1);
    let photos = &permits[0].application.persons[0].photos;
    let sources: Vec<&str> = photos.iter().map(|p| p.source.as_str()).collect();
    assert_eq!(sources, ["passport register", "family photo", "job badge"]);
    assert!(photos.iter().all(|p| !p.id.is_empty()));
}

/// The draft form takes its grounds from lists: an offence from the catalogue (filled in by the
/// server) or one described by hand, which the permit's prosecutor confirms on the permits page;
/// a ground of another purpose is dropped. The decider sees the grounds and registers the
/// decision under its own case number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_form_takes_grounds_from_lists_and_the_decider_sees_them() {
    let (_dir, _clock, control) = common::control().await;
    with_camera_1(
        &control,
        &[("app", Role::Applicant), ("pros", Role::Prosecutor)],
    )
    .await;
    let addr = common::serve(&control).await;
    let form = |grounds: &str| {
        format!(
            "purpose=sentence_enforcement&case=5000-K1-26&person=p&source=s&start=2026-08-03T08:00&end=2026-08-05T08:00&necessity=n&proportionality=p&fria=f&eudb=e&cam_cam-1=on&{grounds}"
        )
    };
    let (listed, typed, bad) = (
        form(
            "offence_code=brb-3-1&stage=attempt&victim=abduction&judgment_court=Solna+tingsr%C3%A4tt&judgment_case=B+9-26&legal_force=2026-06-01",
        ),
        form(
            "offence_code=typed&offence=grovt+brott+i+en+annan+lag&annex=murder&penalty=6&judgment_court=Solna+tingsr%C3%A4tt&judgment_case=B+9-26&legal_force=2026-06-01",
        ),
        form("offence_code=typed&offence=x&annex=unicorn&penalty=6"),
    );
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "app");
        let csrf = csrf(addr, &token);
        for f in [&listed, &typed] {
            let h = request(
                addr,
                "POST",
                "/permits",
                Some(&token),
                &format!("csrf={csrf}&{f}"),
                None,
            );
            assert_eq!(h.status, 303);
        }
        let mut page = String::new();
        let h = request(
            addr,
            "POST",
            "/permits",
            Some(&token),
            &format!("csrf={csrf}&{bad}"),
            Some(&mut page),
        );
        assert_eq!(h.status, 400);
        assert!(page.contains("unknown Annex II category"), "{page}");
    })
    .await
    .unwrap();
    let store = mandat_testkit::store(&control);
    let mut permits = store.permits().await.unwrap();
    permits.sort_by_key(|p| p.application.offence.as_ref().unwrap().code.is_none());
    let (listed, typed) = (&permits[0], &permits[1]);
    let o = listed.application.offence.as_ref().unwrap();
    assert_eq!(o.description, "mord (BrB 3 kap. 1 §)");
    assert_eq!(o.stage, mandat_law::permit::Stage::Attempt);
    assert_eq!(listed.application.victim, None, "another purpose's ground");
    assert_eq!(
        listed.application.judgment.as_ref().unwrap().case_number,
        "B 9-26"
    );
    assert_eq!(
        typed.application.offence.as_ref().unwrap().confirmed_by,
        None
    );
    // The team: the permit's prosecutor decides both; the listed one is filed.
    let app = Actor::new("app", &[Role::Applicant]);
    for p in [listed, typed] {
        control
            .assign_team(
                &mandat_testkit::session(&control, &app),
                &p.id,
                "pros",
                Some(Role::Prosecutor),
                "t",
            )
            .await
            .unwrap();
    }
    common::enrol_first_photo(&control, &app, &listed.id).await;
    control
        .apply(&mandat_testkit::session(&control, &app), &listed.id, "t")
        .await
        .unwrap();
    let (listed_id, typed_id) = (listed.id.clone(), typed.id.clone());
    tokio::task::spawn_blocking(move || {
        let token = login(addr, "pros");
        let csrf = csrf(addr, &token);
        let mut page = String::new();
        request(addr, "GET", "/permits", Some(&token), "", Some(&mut page));
        assert!(
            page.contains(&format!("/permits/{typed_id}/confirm-offence")),
            "{page}"
        );
        let h = request(
            addr,
            "POST",
            &format!("/permits/{typed_id}/confirm-offence"),
            Some(&token),
            &format!("csrf={csrf}"),
            None,
        );
        assert_eq!(h.status, 303);
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&token), "", Some(&mut page));
        for shown in [
            "mord (BrB 3 kap. 1 §)",
            "[brb-3-1]",
            "försök",
            "Solna tingsrätt",
            "B 9-26",
            "name=\"decider_case\"",
        ] {
            assert!(
                page.contains(shown),
                "{shown} not on the decider's page: {page}"
            );
        }
        // A sentence is no case number: nothing is decided.
        let mut out = String::new();
        let h = request(
            addr,
            "POST",
            &format!("/decide/{listed_id}"),
            Some(&token),
            &format!(
                "csrf={csrf}&outcome=refuse&reasons=not+needed&decider_case=the+man+from+Solna"
            ),
            Some(&mut out),
        );
        assert_eq!(h.status, 422, "{out}");
        let h = request(
            addr,
            "POST",
            &format!("/decide/{listed_id}"),
            Some(&token),
            &format!("csrf={csrf}&outcome=refuse&reasons=not+needed&decider_case=AM-1234-26"),
            None,
        );
        assert_eq!(h.status, 303);
    })
    .await
    .unwrap();
    let listed = store.permit(&listed.id).await.unwrap();
    assert_eq!(listed.decider_case.unwrap().number, "AM-1234-26");
    assert_eq!(listed.status, mandat_law::Status::Refused);
    let typed = store.permit(&typed.id).await.unwrap();
    assert_eq!(
        typed.application.offence.unwrap().confirmed_by.as_deref(),
        Some("pros")
    );
}

/// The decider sees what a grant rests on: the recurring risk analysis (its date and the profile's
/// limit, the demographic spread it measured) and the false alerts the threshold means per 10,000
/// passers-by. Half a year later the page says a grant is refused now, and it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decider_sees_the_risk_analysis_and_the_expected_false_alerts() {
    let (_dir, clock, control) = common::control().await;
    let admin = with_camera_1(
        &control,
        &[("app", Role::Applicant), ("pros", Role::Prosecutor)],
    )
    .await;
    // A table with per-pair rate 1e-4 at cosine 0.40, the application's threshold.
    let table = mandat_testkit::calibration_table("v-web");
    control
        .add_calibration(
            &mandat_testkit::session(&control, &admin),
            &table,
            None,
            "t",
        )
        .await
        .unwrap();
    let app = Actor::new("app", &[Role::Applicant]);
    let id = common::drafted(&control, &app).await;
    control
        .apply(&mandat_testkit::session(&control, &app), &id, "t")
        .await
        .unwrap();
    let addr = common::serve(&control).await;
    let page = tokio::task::spawn_blocking(move || {
        let token = login(addr, "pros");
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&token), "", Some(&mut page));
        page
    })
    .await
    .unwrap();
    // One photo at 0.40: 1e-4 of passers-by, 1.00 in 10,000, read off table v-web.
    let per_10k = |x: &str| {
        [
            format!("{x} per 10 000 förbipasserande"),
            format!("{x} per 10,000 passers-by"),
        ]
    };
    assert!(
        per_10k("1.00").iter().any(|t| page.contains(t.as_str())) && page.contains("v-web"),
        "{page}"
    );
    // The fixture's evaluation, made today, within the limit of 183 days.
    assert!(
        page.contains("test-fixture") && page.contains("183"),
        "{page}"
    );
    assert!(!page.contains("at most 183 days before a grant"), "{page}");
    // The model the permit was drafted for, which is the one running.
    let sha = mandat_control::calibration::pinned_embedder_sha256();
    assert!(
        page.contains("sface-2021dec") && page.contains(&sha[..12]),
        "{page}"
    );
    // Its size against the profile's caps (the act sets none), and what is not measured.
    assert!(
        page.contains("ingen gräns i profilen")
            && page.contains("Förbipasserande per dag, väntat: inte mätt"),
        "{page}"
    );

    clock.advance(200 * 24 * 3600 * 1000);
    let pid = id.clone();
    let (page, after) = tokio::task::spawn_blocking(move || {
        let token = login(addr, "pros");
        let csrf = csrf(addr, &token);
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&token), "", Some(&mut page));
        let mut after = String::new();
        request(
            addr,
            "POST",
            &format!("/decide/{pid}"),
            Some(&token),
            &format!("csrf={csrf}&outcome=grant&reasons=necessary"),
            Some(&mut after),
        );
        (page, after)
    })
    .await
    .unwrap();
    assert!(page.contains("at most 183 days before a grant"), "{page}");
    assert!(
        after.contains("200 days ago") && after.contains("risk analysis"),
        "the refusal names the rule: {after}"
    );
    let p = mandat_testkit::store(&control).permit(&id).await.unwrap();
    assert_eq!(p.status, mandat_law::Status::Applied);
}

/// Once a use has ended its applicant records what it led to on the permits page (ticked boxes)
/// or through the API; the law's refusals come back with their rule, and nobody else may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applicant_records_what_a_use_led_to_on_the_page_and_by_api() {
    let (_dir, _clock, control) = common::control().await;
    with_camera_1(
        &control,
        &[("app", Role::Applicant), ("pros", Role::Prosecutor)],
    )
    .await;
    let app = Actor::new("app", &[Role::Applicant]);
    let pros = Actor::new("pros", &[Role::Prosecutor]);
    let id = common::granted(&control, &app, &pros).await;
    let addr = common::serve(&control).await;
    let running = id.clone();
    let ended = tokio::task::spawn_blocking(move || {
        let token = login(addr, "app");
        // While the use runs there is nothing to record, and the API says why.
        let mut body = String::new();
        let h = request(
            addr,
            "POST",
            &format!("/api/v1/permits/{running}/outcome"),
            Some(&token),
            r#"{"results":["arrested"]}"#,
            Some(&mut body),
        );
        assert_eq!(h.status, 422, "{body}");
        assert!(body.contains("once its use has ended"), "{body}");
        token
    })
    .await
    .unwrap();
    control
        .stop(&mandat_testkit::session(&control, &app), &id, "found", "t")
        .await
        .unwrap();
    let pid = id.clone();
    tokio::task::spawn_blocking(move || {
        let token = ended;
        let csrf = csrf(addr, &token);
        let page_path = request(addr, "GET", "/", Some(&token), "", None)
            .location
            .unwrap();
        let mut page = String::new();
        request(addr, "GET", &page_path, Some(&token), "", Some(&mut page));
        assert!(
            page.contains(&format!("action=\"/permits/{pid}/outcome\""))
                && page.contains("name=\"result_arrested\""),
            "the ended use offers the outcome form: {page}"
        );
        let h = request(
            addr,
            "POST",
            &format!("/permits/{pid}/outcome"),
            Some(&token),
            &format!("csrf={csrf}&result_arrested=on&result_person_located=on&result_unknown=on"),
            None,
        );
        assert_eq!(h.status, 303);
        let mut page = String::new();
        request(addr, "GET", &page_path, Some(&token), "", Some(&mut page));
        assert!(page.contains("Person lokaliserad, Gripande"), "{page}");
        // No box ticked is a refusal with the rule, not a silent record of nothing.
        let mut page = String::new();
        let h = request(
            addr,
            "POST",
            &format!("/permits/{pid}/outcome"),
            Some(&token),
            &format!("csrf={csrf}"),
            Some(&mut page),
        );
        assert_eq!(h.status, 422, "{page}");
        // The API: `nothing` with a result is refused by the law; an unknown result does not
        // parse; the prosecutor, who may see the permit, is not its applicant.
        for (token, body, status, says) in [
            (
                &token,
                r#"{"results":["nothing","arrested"]}"#,
                422,
                "cannot be recorded together",
            ),
            (&token, r#"{"results":["escaped"]}"#, 422, "unknown variant"),
            (
                &login(addr, "pros"),
                r#"{"results":["nothing"]}"#,
                403,
                "only its applicant",
            ),
        ] {
            let mut out = String::new();
            let h = request(
                addr,
                "POST",
                &format!("/api/v1/permits/{pid}/outcome"),
                Some(token),
                body,
                Some(&mut out),
            );
            assert_eq!(h.status, status, "{body}: {out}");
            assert!(out.contains(says), "{body}: {out}");
        }
    })
    .await
    .unwrap();
    let p = mandat_testkit::store(&control).permit(&id).await.unwrap();
    assert_eq!(
        p.use_outcome.unwrap().results,
        vec![
            mandat_law::UseResult::PersonLocated,
            mandat_law::UseResult::Arrested
        ],
        "the page's record stands; the refused ones changed nothing"
    );
}

/// A multipart form as a browser sends the photos page's upload: the CSRF token first, then the
/// file. Returns the status and the body.
fn upload(addr: SocketAddr, path: &str, token: &str, csrf: &str, photo: &[u8]) -> (u16, String) {
    const B: &str = "----mandat-test-boundary";
    let mut body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{B}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: __Host-mandat_session={token}\r\nContent-Type: multipart/form-data; boundary={B}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    (status, text)
}

/// The face pipeline's stand-in: what it "finds" is written in the photo's first bytes, so each
/// verdict the page must show can be asked for. The real pipeline on real photos is checked by
/// the browser test (`cli/tests/it/browser.rs`).
fn fake_enroller() -> mandat_web::Enroller {
    use mandat_law::permit::PhotoFault;
    std::sync::Arc::new(|bytes: &[u8]| {
        let q = mandat_testkit::QUALITY;
        let fault = |measure: &str, value, limit| PhotoFault {
            measure: measure.into(),
            value,
            limit,
        };
        if bytes.starts_with(b"one-face") {
            Ok(mandat_web::PhotoCheck {
                faces: vec![q],
                faults: vec![],
                template: Some(vec![0.1; 128]),
            })
        } else if bytes.starts_with(b"two-faces") {
            Ok(mandat_web::PhotoCheck {
                faces: vec![q, q],
                faults: vec![fault("faces", 2.0, 1.0)],
                template: None,
            })
        } else if bytes.starts_with(b"blurred") {
            let blurred = mandat_law::permit::PhotoQuality {
                sharpness: 5.0,
                ..q
            };
            Ok(mandat_web::PhotoCheck {
                faces: vec![blurred],
                faults: vec![fault("sharpness", 5.0, 20.0)],
                template: None,
            })
        } else {
            Err("not a usable image (JPEG or PNG)".to_string())
        }
    })
}

/// Part 8 of issue 18 on the pages: the applicant uploads the draft's photo on its photos page
/// and sees the gate's verdict (face box, measures, the reason for a refusal) before filing; a
/// refused photo leaves nothing behind; the decider sees the enrolled photo beside the
/// application; nobody else sees it; each viewing is logged; photo and measures are sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_photos_are_checked_enrolled_and_shown_to_the_decider_on_the_pages() {
    let (dir, _clock, control) = common::control().await;
    with_camera_1(
        &control,
        &[
            ("app", Role::Applicant),
            ("pros", Role::Prosecutor),
            ("rev", Role::Reviewer),
        ],
    )
    .await;
    let app = Actor::new("app", &[Role::Applicant]);
    let p = control
        .draft(&mandat_testkit::session(&control, &app), application(), "t")
        .await
        .unwrap();
    for (user, role) in [("pros", Role::Prosecutor), ("rev", Role::Reviewer)] {
        control
            .assign_team(
                &mandat_testkit::session(&control, &app),
                &p.id,
                user,
                Some(role),
                "t",
            )
            .await
            .unwrap();
    }
    let photo = p.application.persons[0].photos[0].id.clone();
    let addr = common::serve_enrolling(&control, fake_enroller()).await;
    let (id, ph) = (p.id.clone(), photo.clone());
    let pages = tokio::task::spawn_blocking(move || {
        let page_of = |token: &str, path: &str| {
            let mut out = String::new();
            let h = request(addr, "GET", path, Some(token), "", Some(&mut out));
            (h.status, out)
        };
        let token = login(addr, "app");
        let csrf = csrf(addr, &token);
        let photos = format!("/permits/{id}/photos");
        let target = format!("/permits/{id}/photos/{ph}");
        // The permits page links to the photos page, which offers the upload.
        assert!(page_of(&token, "/permits").1.contains(&photos));
        let (status, page) = page_of(&token, &photos);
        assert_eq!(status, 200);
        assert!(page.contains(&format!("action=\"{target}\"")), "{page}");
        assert!(page.contains("Inte uppladdad"), "{page}");
        // Refusals show why, with what was measured and where the faces were.
        let (status, page) = upload(addr, &target, &token, &csrf, b"blurred photo");
        assert_eq!(status, 422, "{page}");
        assert!(
            page.contains("Skärpan 5 är under minsta 20"),
            "the reason: {page}"
        );
        assert!(page.contains("class=\"face refused\""), "the box: {page}");
        assert!(page.contains("45 px"), "the measures: {page}");
        let (status, page) = upload(addr, &target, &token, &csrf, b"two-faces photo");
        assert_eq!(status, 422);
        assert!(page.contains("Bilden visar 2 ansikten"), "{page}");
        assert_eq!(page.matches("class=\"face refused\"").count(), 2);
        let (status, page) = upload(addr, &target, &token, &csrf, b"GIF89a");
        assert_eq!(status, 422);
        assert!(page.contains("photo_quality"), "{page}");
        // A forged form (no valid token) is refused before the photo is read.
        let (status, _) = upload(addr, &target, &token, "0".repeat(64).as_str(), b"one-face");
        assert_eq!(status, 403);
        // Taken: the page shows it with its box and measures, and offers no second upload.
        let (status, page) = upload(addr, &target, &token, &csrf, b"one-face photo bytes");
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("ok=photo.enrolled"), "{page}");
        let (_, page) = page_of(&token, &format!("{photos}?ok=photo.enrolled"));
        assert!(page.contains("klarade kvalitetskontrollen"), "{page}");
        let image = format!("/ui/permits/{id}/photos/{ph}");
        assert!(page.contains(&format!("href=\"{image}\"")), "{page}");
        assert!(page.contains("class=\"face\""), "{page}");
        assert!(!page.contains(&format!("action=\"{target}\"")), "{page}");
        let mut bytes = String::new();
        let h = request(addr, "GET", &image, Some(&token), "", Some(&mut bytes));
        assert_eq!(h.status, 200);
        assert_eq!(bytes, "one-face photo bytes");
        // Once is enough: the same photo again is a conflict.
        let (status, _) = upload(addr, &target, &token, &csrf, b"one-face again");
        assert_eq!(status, 409);
        // A reviewer on the team sees neither the page nor the image.
        let rev = login(addr, "rev");
        assert_eq!(page_of(&rev, &photos).0, 403);
        assert_eq!(page_of(&rev, &image).0, 403);
        let api = format!("/api/v1/permits/{id}/photos");
        let mut listing = String::new();
        let h = request(addr, "GET", &api, Some(&token), "", Some(&mut listing));
        assert_eq!(h.status, 200);
        let v: serde_json::Value = serde_json::from_str(&listing).unwrap();
        assert_eq!(v[0]["enrolled"], true);
        assert_eq!(v[0]["quality"]["inter_eye_px"], 45.0);
        (token, image)
    })
    .await
    .unwrap();
    control
        .apply(&mandat_testkit::session(&control, &app), &p.id, "t")
        .await
        .unwrap();
    let (id, image) = (p.id.clone(), pages.1.clone());
    tokio::task::spawn_blocking(move || {
        // The decider sees the photo, boxed, beside the application.
        let pros = login(addr, "pros");
        let mut page = String::new();
        request(addr, "GET", "/decide", Some(&pros), "", Some(&mut page));
        assert!(page.contains(&format!("href=\"{image}\"")), "{page}");
        assert!(page.contains(&format!("/permits/{id}/photos")), "{page}");
        assert_eq!(
            request(addr, "GET", &image, Some(&pros), "", None).status,
            200
        );
    })
    .await
    .unwrap();
    // Two viewings, each logged; the refused uploads left no enrolment behind.
    let (entries, _) = mandat_testkit::store(&control).audit_log().await.unwrap();
    let count = |action: &str| {
        entries
            .iter()
            .filter(|e| e.action == action && e.permit.as_deref() == Some(p.id.as_str()))
            .count()
    };
    assert_eq!(count("person.view_photo"), 2);
    assert_eq!(count("person.enrol"), 1);
    // At rest, neither the photo nor what the gate measured is readable in the database file.
    mandat_testkit::store(&control).close().await;
    let mut raw = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        raw.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    for plain in [&b"one-face photo bytes"[..], b"inter_eye_px", b"face_box"] {
        assert!(
            !raw.windows(plain.len()).any(|w| w == plain),
            "{} in the clear on disk",
            String::from_utf8_lossy(plain)
        );
    }
}
