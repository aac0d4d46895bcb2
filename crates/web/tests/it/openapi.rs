//! The OpenAPI document against the code and against a running server: it lists exactly the API
//! routes the router serves, every reference in it resolves, and schemathesis, a property-based API
//! fuzzer, finds no 5xx answer and no answer outside the document.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::alert;
use mandat_law::{Actor, Role};
use serde_json::Value;

use crate::common;

fn doc() -> Value {
    serde_json::to_value(mandat_web::openapi()).unwrap()
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

#[test]
fn the_document_lists_exactly_the_api_routes() {
    let doc = doc();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = mandat_web::endpoints()
        .into_iter()
        .filter(|(_, p)| is_api(p))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "every API route needs #[utoipa::path] and an entry in openapi.rs, and nothing else"
    );
    assert!(served.len() >= 25, "{served:?}");
}

#[test]
fn every_reference_resolves_and_every_guarded_operation_names_its_errors() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20);
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let guarded = op.get("security").is_some();
            if guarded {
                assert_eq!(
                    op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["scheme"],
        "bearer"
    );
    // Legal enums come through with the names the JSON uses.
    let purposes = &schemas["Purpose"]["enum"];
    assert_eq!(
        purposes,
        &serde_json::json!([
            "victim_search",
            "imminent_threat",
            "suspect_location",
            "sentence_enforcement"
        ])
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// schemathesis from `MANDAT_SCHEMATHESIS`, or where `scripts/test-deps.sh` installs it (the
/// same cache as the models: `$MANDAT_CACHE`, else `$XDG_CACHE_HOME/mandat`, else `~/.cache/mandat`).
fn schemathesis() -> String {
    if let Ok(p) = std::env::var("MANDAT_SCHEMATHESIS") {
        return p;
    }
    let env = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    let cache = env("MANDAT_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|x| format!("{x}/mandat")))
        .unwrap_or_else(|| format!("{}/.cache/mandat", env("HOME").unwrap_or_default()));
    format!("{cache}/fuzz-venv/bin/schemathesis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let bin = schemathesis();
    assert!(
        std::path::Path::new(&bin).exists(),
        "schemathesis is not at {bin}: run scripts/test-deps.sh (or set MANDAT_SCHEMATHESIS)"
    );
    // A server with something in it: users, a camera, a granted permit with an enrolled person,
    // and an alert, so list answers are not all empty.
    let (_dir, clock, control) = common::control().await;
    let admin = Actor::new("admin", &[Role::Admin]);
    common::provision(&control, "admin", "admin password", &[Role::Admin])
        .await
        .unwrap();
    for (u, r) in [("officer", Role::Applicant), ("pros", Role::Prosecutor)] {
        common::provision(&control, u, "a long password", &[r])
            .await
            .unwrap();
    }
    // The fuzzer's account holds every role but admin and public counsel (which each exclude
    // the others), so requests get past the role checks into the code that reads their bodies;
    // the admin's routes are fuzzed as refusals (the authorisation matrix is tested in authz.rs).
    let every_but_admin: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| !matches!(r, Role::Admin | Role::Counsel))
        .collect();
    let secret = common::provision(&control, "fuzz", "a long password", &every_but_admin)
        .await
        .unwrap();
    common::camera_1(&control, &admin).await;
    let officer = Actor::new("officer", &[Role::Applicant]);
    let p = common::granted(&control, &officer, &Actor::new("pros", &[Role::Prosecutor])).await;
    control
        .raise_alert(alert(&control, "A-1", &p).await)
        .await
        .unwrap();
    // The use starts: a notification in the IMY register.
    control.tick("t").await.unwrap();
    let code = mandat_store::totp::code(&secret, mandat_law::Clock::now(&*clock).unwrap()).unwrap();
    let (_, token) = control
        .login("fuzz", "a long password", &code, "t")
        .await
        .unwrap();

    let addr = common::serve(&control).await;
    let report = std::env::temp_dir().join(format!("mandat-schemathesis-{}", std::process::id()));
    // schemathesis keeps a cache in its working directory: keep it out of the repository.
    std::fs::create_dir_all(&report).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&bin)
            .current_dir(&report)
            .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
            .args(["--url", &format!("http://{addr}")])
            .args(["--checks", "all"])
            // Schema-valid requests may still be refused by the law (a draft for a camera that
            // does not exist, a decision on a permit nobody applied for): a 4xx, not a bug.
            .args(["--exclude-checks", "positive_data_acceptance"])
            // Logging out would end the fuzzer's session; the live stream never ends. Both are
            // tested in api.rs.
            .args(["--exclude-path", "/api/v1/logout"])
            .args(["--exclude-path", "/api/v1/alerts/stream"])
            // This server runs without the face models, so a photo for a real draft answers
            // 503 by design. The route is exercised with real photos and with bytes that are no
            // image through `mandat serve` (crates/cli/tests/lawful_cli.rs); random bytes go into
            // the decoder and detector in fuzz/fuzz_targets/decode_detect.rs.
            .args([
                "--exclude-path",
                "/api/v1/permits/{id}/persons/{person}/photos/{photo}",
            ])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--max-examples",
                "40",
                "--seed",
                "20260701",
                "--workers",
                "2",
            ])
            .args(["--request-timeout", "20", "--no-color"])
            .arg("--report-dir")
            .arg(&report)
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    // It tested every selected operation (all but the three excluded), rather than skip them.
    let number_before = |marker: &str| -> usize {
        let head = &text[..text
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {text}"))];
        let digits: String = head
            .chars()
            .rev()
            .skip_while(|c| c.is_whitespace())
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let selected = number_before(" selected /");
    let total = number_before(" total");
    assert_eq!(selected + 3, total, "{text}");
    assert!(total >= 29, "{text}");
    assert!(text.contains(&format!("Tested: {selected}")), "{text}");
}
