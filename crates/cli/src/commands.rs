//! The lawful-use commands as a client of `mandat serve`: `login`, `enrol`, `password`, `logout`,
//! `whoami`, `user`, `session`, `camera`, `permit`, `person`, `audit export`, `imy`, `subjects`,
//! `report`, `alerts`. Each is one or a few API requests as the logged-in user; the server decides.

use std::io::Write;

use sha2::Digest;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mandat_law::review::Verdict;
use mandat_law::{Application, Outcome, Permit, Profile, SystemClock};
use mandat_store::alerts::AlertRecord;
use serde_json::{Value, json};

use crate::client::{Client, seg};
use crate::lawful::*;
use crate::server::AlertsCommand;

/// Text others wrote (reasons, notes, descriptions), with control characters replaced, so a
/// colleague's free text cannot drive this terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn roles_text(roles: &[impl AsRef<str>]) -> String {
    roles
        .iter()
        .map(|r| r.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

fn role_names(roles: &[mandat_law::Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

pub fn login(paths: Paths, args: LoginArgs) -> Result<()> {
    let password = read_password(
        args.password_stdin,
        &format!("password for {}: ", args.user),
    )?;
    let code = read_line(args.password_stdin, "one-time code from your app: ", false)?;
    // Whoever logs in stops acting as the previous user, even if this login fails.
    let _ = std::fs::remove_file(paths.session());
    let (user, roles) = Client::login(&args.server, &paths, &args.user, &password, &code)?;
    println!("logged in as {user} ({})", roles_text(&roles));
    Ok(())
}

/// Enrol with the one-time code an admin handed over: set the password, print the second factor.
pub fn enrol(args: EnrolArgs) -> Result<()> {
    let code = read_line(args.stdin, "enrolment code: ", false)?;
    let password = read_password(args.stdin, "choose a password (at least 12 characters): ")?;
    if !args.stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let again = read_password(false, "the same password again: ")?;
        if again != password {
            bail!("the passwords differ; run `mandat enrol` again");
        }
    }
    let f: mandat_store::SecondFactor = Client::connect(&args.server)?.post(
        "/api/v1/enrol",
        &json!({"user": args.user, "code": code, "password": password}),
    )?;
    println!(
        "enrolled {}. Add this key to your authenticator app (TOTP) now; it is shown only once: {}",
        args.user, f.totp_secret
    );
    println!("as a link: {}", f.otpauth_url);
    Ok(())
}

/// Change one's own password; every session ends, so log in again.
pub fn password(paths: Paths, args: PasswordArgs) -> Result<()> {
    let current = read_password(args.stdin, "current password: ")?;
    let new = read_password(args.stdin, "new password (at least 12 characters): ")?;
    let c = Client::logged_in(&paths)?;
    let _: Value = c.post("/api/v1/password", &json!({"current": current, "new": new}))?;
    let _ = std::fs::remove_file(paths.session());
    println!(
        "password changed; every session of {} ended: log in again",
        c.user
    );
    Ok(())
}

pub fn logout(paths: Paths) -> Result<()> {
    let file = paths.session();
    if file.exists() {
        // The server ends the session; the file goes even when the server cannot be reached.
        let ended =
            Client::logged_in(&paths).and_then(|c| c.post::<Value>("/api/v1/logout", &json!({})));
        std::fs::remove_file(&file)?;
        ended?;
    }
    println!("logged out");
    Ok(())
}

pub fn whoami(paths: Paths) -> Result<()> {
    let s: Value = Client::logged_in(&paths)?.get("/api/v1/session")?;
    let roles: Vec<String> = serde_json::from_value(s["roles"].clone()).unwrap_or_default();
    println!(
        "{} ({}) of {}",
        s["user"].as_str().unwrap_or_default(),
        roles_text(&roles),
        s["agency"].as_str().unwrap_or_default()
    );
    Ok(())
}

pub fn user(paths: Paths, cmd: UserCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    match cmd {
        UserCommand::Add { id, roles, agency } => {
            let e: mandat_store::Enrolment = c.post(
                "/api/v1/users",
                &json!({"user": id, "roles": role_names(&roles), "agency": agency}),
            )?;
            println!(
                "added user {id}; enrolment code (hand it over in person; valid until {}): {}",
                e.expires_at, e.enrolment_code
            );
            if let Some(g) = e.grant {
                println!("the roles take effect when another admin runs `mandat user approve {g}`");
            }
        }
        UserCommand::Roles { id, roles } => {
            let change: mandat_store::RoleChange = c.post(
                &format!("/api/v1/users/{}/roles", seg(&id)),
                &json!({"roles": role_names(&roles)}),
            )?;
            match change {
                mandat_store::RoleChange::Applied => println!("roles of {id} set"),
                mandat_store::RoleChange::Pending { grant } => println!(
                    "requested; the roles take effect when another admin runs `mandat user approve {grant}`"
                ),
            }
        }
        UserCommand::Grants { json } => {
            let grants: Vec<mandat_store::Grant> = c.get("/api/v1/grants")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&grants)?);
            } else {
                for g in grants {
                    println!(
                        "{}\t{}\t{}\trequested by {} at {}",
                        g.id,
                        g.user,
                        role_names(&g.roles).join(","),
                        g.requested_by,
                        g.requested_at
                    );
                }
            }
        }
        UserCommand::Approve { grant } => {
            let g: mandat_store::Grant = c.post(
                &format!("/api/v1/grants/{}/approve", seg(&grant)),
                &json!({}),
            )?;
            println!(
                "approved: {} now holds {}",
                g.user,
                role_names(&g.roles).join(",")
            );
        }
        UserCommand::Reset { id } => {
            let e: mandat_store::Enrolment =
                c.post(&format!("/api/v1/users/{}/enrolment", seg(&id)), &json!({}))?;
            println!(
                "new enrolment code for {id} (hand it over in person; valid until {}): {}",
                e.expires_at, e.enrolment_code
            );
            if let Some(g) = e.grant {
                println!(
                    "its roles take effect again when another admin runs `mandat user approve {g}`"
                );
            }
        }
        UserCommand::List { json } => {
            let users: Vec<mandat_store::UserInfo> = c.get("/api/v1/users")?;
            if json {
                let v: Vec<_> = users
                    .iter()
                    .map(|u| {
                        json!({
                            "id": u.user,
                            "roles": u.roles,
                            "agency": u.agency,
                            "disabled_at": u.disabled_at,
                            "enrolled": u.enrolled,
                            "pending": u.pending,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for u in users {
                    println!(
                        "{}\t{}\t{}{}",
                        u.user,
                        u.agency.as_str(),
                        role_names(&u.roles).join(","),
                        u.disabled_at
                            .map(|t| format!("\tdisabled {t}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        UserCommand::Disable { id } => {
            let _: Value = c.post(&format!("/api/v1/users/{}/disable", seg(&id)), &json!({}))?;
            println!("disabled {id}; its sessions are ended");
        }
    }
    Ok(())
}

pub fn session(paths: Paths, cmd: SessionCommand) -> Result<()> {
    let SessionCommand::Revoke { user } = cmd;
    let r: Value = Client::logged_in(&paths)?.post(
        &format!("/api/v1/users/{}/sessions/revoke", seg(&user)),
        &json!({}),
    )?;
    println!("ended {} session(s) of {user}", r["sessions_ended"]);
    Ok(())
}

pub fn keys(paths: Paths, cmd: KeysCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    match cmd {
        KeysCommand::Rotate => {
            let r: mandat_store::KeyRotation = c.post("/api/v1/keys/rotate", &json!({}))?;
            println!(
                "key epoch {} -> {}: {} data key(s) re-wrapped, the old wrapping key destroyed{}",
                r.from_epoch,
                r.to_epoch,
                r.data_keys_rewrapped,
                if r.data_keys_unreadable > 0 {
                    format!(
                        "; {} data key(s) could not be unwrapped and were left as they were (see the server log)",
                        r.data_keys_unreadable
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

/// A new file only its owner can read, never an existing one and never through a link.
fn create_new_private(path: &Path) -> Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).with_context(|| {
        format!(
            "cannot create {}: an evidence package goes to a new file (it never replaces one)",
            path.display()
        )
    })
}

fn camera_change(c: &Client, id: &str, body: Value) -> Result<()> {
    let done: Value = c.post(&format!("/api/v1/cameras/{}/change", seg(id)), &body)?;
    println!(
        "camera {id}: {}",
        done["change"].as_str().unwrap_or("changed")
    );
    Ok(())
}

pub fn camera(paths: Paths, cmd: CameraCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    match cmd {
        CameraCommand::Add {
            id,
            name,
            lat,
            lon,
            owner,
            url_file,
            disabled,
            agreement,
        } => {
            let agreement = agreement_of(agreement)?;
            if lat.is_some() != lon.is_some() {
                bail!("give both --lat and --lon, or neither");
            }
            // The server checks the URL: it is the one that opens the stream.
            let url = read_text(url_file.as_deref(), "the stream URL")?;
            let _: Value = c.post(
                "/api/v1/cameras",
                &json!({
                    "id": id,
                    "name": name,
                    "location": lat.zip(lon),
                    "owner": owner,
                    "enabled": !disabled,
                    "agreement": agreement,
                    "stream_url": url,
                }),
            )?;
            println!("added camera {id}");
        }
        CameraCommand::Agreement { id, agreement } => {
            let Some(agreement) = agreement_of(agreement)? else {
                bail!(
                    "give the agreement: --agreement-basis, --agreement-ref, --agreement-from, --agreement-until and --agreement-contact"
                );
            };
            camera_change(
                &c,
                &id,
                json!({"change": "agreement", "agreement": agreement}),
            )?
        }
        CameraCommand::Disable { id } => camera_change(&c, &id, json!({"change": "disable"}))?,
        CameraCommand::Enable { id } => camera_change(&c, &id, json!({"change": "enable"}))?,
        CameraCommand::Remove { id } => camera_change(&c, &id, json!({"change": "remove"}))?,
        CameraCommand::SetUrl { id, url_file } => {
            let url = read_text(url_file.as_deref(), "the stream URL")?;
            camera_change(&c, &id, json!({"change": "url", "stream_url": url.trim()}))?
        }
        CameraCommand::List { json } => {
            let cams: Vec<mandat_store::Camera> = c.get("/api/v1/cameras")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cams)?);
            } else {
                for cam in cams {
                    let loc = cam
                        .location
                        .map(|(a, b)| format!("{a:.5},{b:.5}"))
                        .unwrap_or_else(|| "-".into());
                    let agreement = match (&cam.agreement, cam.owner.as_str()) {
                        (Some(a), _) => format!(
                            "agreement {} {} to {}",
                            a.reference, a.period.start, a.period.end
                        ),
                        (None, "police") => "-".into(),
                        (None, _) => "NO AGREEMENT: not analysed".into(),
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        cam.id,
                        cam.name,
                        loc,
                        cam.owner,
                        if cam.enabled { "enabled" } else { "disabled" },
                        agreement
                    );
                }
            }
        }
    }
    Ok(())
}

/// The agreement the flags give, if any; all five or none.
fn agreement_of(a: crate::lawful::AgreementArgs) -> Result<Option<mandat_law::Agreement>> {
    let crate::lawful::AgreementArgs {
        basis,
        reference,
        from,
        until,
        contact,
    } = a;
    match (basis, reference, from, until, contact) {
        (None, None, None, None, None) => Ok(None),
        (Some(basis), Some(reference), Some(from), Some(until), Some(contact)) => {
            let start = agreement_day(&from, false)
                .with_context(|| format!("--agreement-from {from:?}"))?;
            let end = agreement_day(&until, true)
                .with_context(|| format!("--agreement-until {until:?}"))?;
            Ok(Some(mandat_law::Agreement {
                basis,
                reference,
                period: mandat_law::Period { start, end },
                contact,
            }))
        }
        _ => bail!(
            "a partner agreement takes all of --agreement-basis, --agreement-ref, --agreement-from, --agreement-until and --agreement-contact"
        ),
    }
}

/// `YYYY-MM-DD` as the start of that Swedish day, or its end when `last_day`; or an RFC 3339
/// instant.
fn agreement_day(s: &str, last_day: bool) -> Result<mandat_law::Timestamp> {
    if let Some(t) = mandat_law::Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    mandat_law::partner::day_bound(s, last_day).context("use YYYY-MM-DD or YYYY-MM-DDTHH:MMZ")
}

fn print_permit(p: &Permit, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
        return Ok(());
    }
    let now = wall_now();
    let a = &p.application;
    println!("permit {}  [{}]", p.id, p.phase_at(now));
    println!("  purpose     {}", a.purpose.as_str());
    println!("  case        {}", a.case_number);
    if let Some(o) = &a.offence {
        println!(
            "  offence     {}{} ({}, max {} years, {})",
            clean(&o.description),
            o.code
                .as_deref()
                .map(|c| format!(" [{}]", clean(c)))
                .unwrap_or_default(),
            o.annex_ii
                .map(|x| format!("{x:?}"))
                .unwrap_or_else(|| "no Annex II category".into()),
            o.max_penalty_years,
            o.stage.as_str()
        );
        if let Some(s) = o.suspicion {
            println!("  suspicion   {}", s.as_str());
        }
        if o.code.is_none() {
            match &o.confirmed_by {
                Some(by) => println!("  confirmed   by prosecutor {by}"),
                None => println!(
                    "  confirmed   not yet: described by hand, a prosecutor confirms it (`mandat permit confirm-offence`)"
                ),
            }
        }
    }
    if let Some(v) = a.victim {
        println!("  victim      {}", v.as_str());
    }
    if let Some(t) = &a.threat {
        println!("  threat      {}: {}", t.kind.as_str(), clean(&t.imminence));
    }
    if let Some(j) = &a.judgment {
        println!(
            "  judgment    {} {}, in force {}",
            clean(&j.court),
            clean(&j.case_number),
            j.legal_force
        );
    }
    println!("  applicant   {} ({:?})", p.applicant, a.agency);
    if let Some(h) = &p.handed_over {
        println!("  handed over by {} at {}", h.from, h.at);
    }
    if let Some(dc) = &p.decider_case {
        println!("  decider's case {} (by {})", clean(&dc.number), dc.by);
    }
    println!("  period      {} .. {}", a.period.start, a.period.end);
    println!(
        "  area        cameras [{}]{}",
        a.area.cameras.join(", "),
        a.area
            .polygon
            .as_ref()
            .map(|poly| format!(" + polygon of {} points", poly.len()))
            .unwrap_or_default()
    );
    println!("  persons     {}", a.persons.len());
    for m in &p.team {
        println!("  team        {} ({})", m.user, m.role.as_str());
    }
    for am in &p.amendments {
        println!(
            "  amendment   {} adds [{}], filed by {} at {}: {}",
            am.number,
            am.cameras.join(", "),
            am.filed_by,
            am.filed_at,
            match &am.decision {
                Some(d) => format!("{:?} by {} at {}", d.outcome, d.by, d.at),
                None => "waits for the decision".into(),
            }
        );
    }
    if let Some(o) = &p.use_outcome {
        let named: Vec<&str> = o.results.iter().map(|r| r.as_str()).collect();
        println!(
            "  outcome     {} (recorded by {} at {})",
            named.join(", "),
            o.by,
            o.at
        );
    }
    match &a.target {
        Some(t) => println!(
            "  threshold   {:.4} (target FPIR {} for {} person(s), calibration {})",
            a.threshold, t.fpir, t.watchlist, t.calibration
        ),
        None => println!(
            "  threshold   {:.4} (a plain cosine, not calibrated)",
            a.threshold
        ),
    }
    if let Some(u) = &p.urgent {
        println!(
            "  urgent      started {} by {}, application due {}: {}",
            u.started_at,
            u.started_by,
            u.deadline,
            if u.ground.is_empty() {
                "(no ground recorded: started before grounds were required)".into()
            } else {
                clean(&u.ground)
            }
        );
    }
    if let Some(d) = &p.decision {
        println!(
            "  decision    {:?} by {} ({:?}) at {}: {}",
            d.outcome,
            d.by,
            d.authority,
            d.at,
            clean(&d.reasons)
        );
    }
    if let Some(s) = &p.stop {
        println!(
            "  stopped     {} by {}: {}",
            s.at,
            s.by.as_deref().unwrap_or("mandat"),
            clean(&s.reason)
        );
    }
    if p.purged {
        println!("  purged      all data of this use deleted; its key destroyed");
    }
    Ok(())
}

fn wall_now() -> mandat_law::Timestamp {
    use mandat_law::Clock;
    SystemClock.now().unwrap_or(mandat_law::Timestamp(0))
}

pub fn permit(paths: Paths, cmd: PermitCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    let path = |id: &str, action: &str| format!("/api/v1/permits/{}/{action}", seg(id));
    match cmd {
        PermitCommand::Draft { file, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let app: Application = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a valid application; see docs/application.example.json",
                    file.display()
                )
            })?;
            let p: Permit = c.post("/api/v1/permits", &app)?;
            if json {
                print_permit(&p, true)?;
            } else {
                println!("drafted permit {}", p.id);
                // The server names persons and photos; enrol each photo under these ids.
                for (i, d) in p.application.persons.iter().enumerate() {
                    let photos: Vec<&str> = d.photos.iter().map(|x| x.id.as_str()).collect();
                    println!(
                        "  person {} ({}): --person {} --photo-id {}",
                        i + 1,
                        d.label,
                        d.id,
                        photos.join(" | ")
                    );
                }
                // The rules of the profile the permit was drafted under, as the server applies them.
                if let Some(profile) = Profile::by_name(&p.profile) {
                    for r in p.application.check(profile) {
                        println!("  to fix before applying: {r}");
                    }
                }
            }
        }
        PermitCommand::Assign { id, user, role } => {
            let p: Permit = c.post(
                &path(&id, "team"),
                &json!({"user": user, "role": role.as_str()}),
            )?;
            println!("{user} works on permit {} as {}", p.id, role.as_str());
        }
        PermitCommand::Unassign { id, user } => {
            let p: Permit = c.post(&path(&id, "team"), &json!({"user": user, "role": null}))?;
            println!("{user} no longer works on permit {}", p.id);
        }
        PermitCommand::Apply { id } => {
            let p: Permit = c.post(&path(&id, "apply"), &json!({}))?;
            println!("permit {} applied for; now {:?}", p.id, p.status);
        }
        PermitCommand::Decide {
            id,
            grant,
            reasons_file,
            cameras,
            persons,
            until,
            case_number,
            json,
            ..
        } => {
            let until = until
                .map(|t| {
                    mandat_law::Timestamp::parse_rfc3339(&t).with_context(|| {
                        format!("--until {t:?}: use RFC 3339, such as 2026-08-04T08:00:00Z")
                    })
                })
                .transpose()?;
            let reasons = read_text(reasons_file.as_deref(), "the decision's reasons")?;
            let outcome = if grant {
                Outcome::Grant
            } else {
                Outcome::Refuse
            };
            let mut body = json!({"outcome": outcome, "reasons": reasons});
            if !cameras.is_empty() || !persons.is_empty() || until.is_some() {
                body["narrowing"] = serde_json::to_value(mandat_law::Narrowing {
                    cameras: (!cameras.is_empty()).then_some(cameras),
                    persons: (!persons.is_empty()).then_some(persons),
                    until,
                })?;
            }
            if let Some(n) = case_number {
                let _: Permit = c.post(&path(&id, "case"), &json!({ "case_number": n }))?;
            }
            let d: Value = c.post(&path(&id, "decide"), &body)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                let p: Permit = serde_json::from_value(d["permit"].clone())?;
                println!("permit {} {:?}", p.id, p.status);
                if let Ok(cert) = serde_json::from_value::<mandat_store::DeletionCertificate>(
                    d["deletion_certificate"].clone(),
                ) {
                    println!(
                        "urgent use refused: deleted {} photo(s), {} template(s), {} alert(s); wrapped data key deleted: {}; {}",
                        cert.photos.len(),
                        cert.templates.len(),
                        cert.alerts.len(),
                        cert.wrapped_key_deleted,
                        match cert.key_rotated_to {
                            Some(e) => format!("key epoch rotated to {e}: backups from before can no longer unwrap the data"),
                            None => "the key epoch is not rotated yet: backups from before can still unwrap the data; run `mandat keys rotate`".into(),
                        }
                    );
                }
            }
        }
        PermitCommand::Amend {
            id,
            cameras,
            reasons_file,
        } => {
            let reasons = read_text(reasons_file.as_deref(), "why the purpose needs the cameras")?;
            let p: Permit = c.post(
                &path(&id, "amendments"),
                &json!({"cameras": cameras, "reasons": reasons}),
            )?;
            let n = p.amendments.last().map(|a| a.number).unwrap_or_default();
            println!(
                "amendment {n} of permit {} filed: {} waits for the decision of the permit's court or prosecutor, and is not analysed before",
                p.id,
                cameras.join(", ")
            );
        }
        PermitCommand::DecideAmendment {
            id,
            number,
            grant,
            reasons_file,
            ..
        } => {
            let reasons = read_text(reasons_file.as_deref(), "the decision's reasons")?;
            let outcome = if grant {
                Outcome::Grant
            } else {
                Outcome::Refuse
            };
            let p: Permit = c.post(
                &path(&id, "amendments/decide"),
                &json!({"number": number, "outcome": outcome, "reasons": reasons}),
            )?;
            println!(
                "amendment {number} of permit {} {}; the permit covers {}",
                p.id,
                if grant { "granted" } else { "refused" },
                p.application.area.cameras.join(", ")
            );
        }
        PermitCommand::UrgentStart { id, ground_file } => {
            let ground = read_text(
                ground_file.as_deref(),
                "why use cannot wait for a decision (the urgent ground)",
            )?;
            let p: Permit = c.post(&path(&id, "urgent-start"), &json!({ "ground": ground }))?;
            let due = p
                .urgent
                .as_ref()
                .map(|u| u.deadline.to_string())
                .unwrap_or_default();
            println!(
                "urgent use of permit {} started; file the application by {due}",
                p.id
            );
        }
        PermitCommand::Stop { id, reason_file } => {
            let reason = read_text(reason_file.as_deref(), "the reason for stopping")?;
            let p: Permit = c.post(&path(&id, "stop"), &json!({"reason": reason}))?;
            println!("permit {} stopped", p.id);
        }
        PermitCommand::Hold { id, reason_file } => {
            let reason = read_text(reason_file.as_deref(), "the reason for the legal hold")?;
            let p: Permit = c.post(&path(&id, "hold"), &json!({"reason": reason}))?;
            println!(
                "permit {} is under a legal hold: the retention schedule keeps its data until `mandat permit release-hold {}`",
                p.id, p.id
            );
        }
        PermitCommand::ReleaseHold { id } => {
            let p: Permit = c.post(&format!("{}/release", path(&id, "hold")), &json!({}))?;
            println!(
                "permit {}: legal hold lifted; what is due has been erased",
                p.id
            );
        }
        PermitCommand::Outcome { id, results } => {
            let p: Permit = c.post(&path(&id, "outcome"), &json!({ "results": results }))?;
            let named: Vec<&str> = p
                .use_outcome
                .iter()
                .flat_map(|o| o.results.iter().map(|r| r.as_str()))
                .collect();
            println!("permit {}: outcome recorded: {}", p.id, named.join(", "));
        }
        PermitCommand::HandOver { id, to } => {
            let p: Permit = c.post(&path(&id, "hand-over"), &json!({ "to": to }))?;
            println!(
                "permit {} handed over: {} files the application",
                p.id, p.applicant
            );
        }
        PermitCommand::Counsel { id, user } => {
            let p: Permit = c.post(&path(&id, "counsel"), &json!({ "user": user }))?;
            println!(
                "permit {}: {user} is its public counsel and files an opinion before the court grants",
                p.id
            );
        }
        PermitCommand::Opinion {
            id,
            opposes,
            text_file,
            ..
        } => {
            let text = read_text(text_file.as_deref(), "the public counsel's opinion")?;
            let position = if opposes { "opposes" } else { "no_objection" };
            let p: Permit = c.post(
                &path(&id, "opinion"),
                &json!({"position": position, "text": text}),
            )?;
            println!("permit {}: opinion filed ({position})", p.id);
        }
        PermitCommand::Hearing {
            id,
            held_at,
            present,
            outcome_file,
        } => {
            let held_at = held_at
                .map(|t| {
                    mandat_law::Timestamp::parse_rfc3339(&t).with_context(|| {
                        format!("--held-at {t:?}: use RFC 3339, such as 2026-12-02T10:00:00Z")
                    })
                })
                .transpose()?;
            let outcome = read_text(outcome_file.as_deref(), "what the hearing came to")?;
            let p: Permit = c.post(
                &path(&id, "hearing"),
                &json!({"held_at": held_at, "present": present, "outcome": outcome}),
            )?;
            let at = p.hearing.map(|h| h.held_at.to_string()).unwrap_or_default();
            println!("permit {}: hearing of {at} recorded", p.id);
        }
        PermitCommand::Appeal {
            id,
            to,
            grounds_file,
        } => {
            let grounds = read_text(grounds_file.as_deref(), "the grounds of the appeal")?;
            let p: Permit = c.post(&path(&id, "appeal"), &json!({"to": to, "grounds": grounds}))?;
            println!("permit {}: appeal filed to {to}", p.id);
        }
        PermitCommand::DecideAppeal {
            id,
            overturn,
            reasons_file,
            ..
        } => {
            let reasons = read_text(
                reasons_file.as_deref(),
                "the reasons of the appeal decision",
            )?;
            let outcome = if overturn { "overturned" } else { "upheld" };
            let d: Value = c.post(
                &path(&id, "appeal/decision"),
                &json!({"outcome": outcome, "reasons": reasons}),
            )?;
            println!("permit {id}: decision {outcome} on appeal");
            if !d["deletion_certificate"].is_null() {
                println!(
                    "use stopped; everything it produced was erased (deletion certificate in the audit log)"
                );
            }
        }
        PermitCommand::ConfirmOffence { id } => {
            let p: Permit = c.post(&path(&id, "offence/confirm"), &json!({}))?;
            println!("permit {}: offence confirmed", p.id);
        }
        PermitCommand::Offences { json } => {
            let list: Value = c.get("/api/v1/offences")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for o in list.as_array().into_iter().flatten() {
                    println!(
                        "{}\t{} ({})\t{} years{}\t{}",
                        o["code"].as_str().unwrap_or_default(),
                        o["name"].as_str().unwrap_or_default(),
                        o["provision"].as_str().unwrap_or_default(),
                        o["max_penalty_years"],
                        if o["life"].as_bool() == Some(true) {
                            " or life"
                        } else {
                            ""
                        },
                        o["annex_ii"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        PermitCommand::Show { id, json } => {
            let p: Permit = c.get(&format!("/api/v1/permits/{}", seg(&id)))?;
            print_permit(&p, json)?;
        }
        PermitCommand::List { json } => {
            let ps: Vec<Permit> = c.get("/api/v1/permits")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ps)?);
            } else {
                let now = wall_now();
                for p in ps {
                    println!(
                        "{}\t{}\t{}\t{} .. {}",
                        p.id,
                        p.phase_at(now),
                        p.application.purpose.as_str(),
                        p.application.period.start,
                        p.application.period.end
                    );
                }
            }
        }
    }
    Ok(())
}

/// Send a reference photo to the server, which runs the face pipeline and the enrolment quality
/// gate on it: the photo goes to the one place that holds the permit's key.
pub fn person(paths: Paths, cmd: PersonCommand) -> Result<()> {
    let PersonCommand::Enrol {
        permit,
        person,
        photo_id,
        image,
    } = cmd;
    let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    if bytes.len() > mandat_web::MAX_PHOTO_BYTES {
        bail!(
            "{} is larger than the server takes ({} MiB); send a smaller JPEG or PNG",
            image.display(),
            mandat_web::MAX_PHOTO_BYTES >> 20
        );
    }
    let c = Client::logged_in(&paths)?;
    let e: Value = c
        .put_bytes(
            &format!(
                "/api/v1/permits/{}/persons/{}/photos/{}",
                seg(&permit),
                seg(&person),
                seg(&photo_id)
            ),
            &bytes,
        )
        .with_context(|| format!("{} was not enrolled", image.display()))?;
    println!(
        "enrolled photo {photo_id} of {person} in permit {permit} (eyes {:.0} px apart, sharpness {:.0})",
        e["inter_eye_px"].as_f64().unwrap_or_default(),
        e["sharpness"].as_f64().unwrap_or_default()
    );
    Ok(())
}

/// `mandat audit export`: the server writes the log as IMY receives it; the CLI saves it.
pub fn audit_export(paths: Paths, out: Option<&Path>) -> Result<()> {
    let text = Client::logged_in(&paths)?.get_bytes("/api/v1/audit/export")?;
    match out {
        Some(path) => {
            write_private(path, &text)?;
            let entries = text
                .split(|&b| b == b'\n')
                .filter(|l| l.windows(16).any(|w| w == b"\"type\":\"entry\"}"))
                .count();
            eprintln!("wrote {entries} entries to {}", path.display());
        }
        None => std::io::stdout().write_all(&text)?,
    }
    Ok(())
}

pub fn imy(paths: Paths, cmd: ImyCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    let path = |id: &str| format!("/api/v1/imy/notifications/{}", seg(id));
    match cmd {
        ImyCommand::List { json } => {
            let reg: Vec<mandat_store::imy::ImyRecord> = c.get("/api/v1/imy/notifications")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reg)?);
                return Ok(());
            }
            if reg.is_empty() {
                println!("no notifications: a use is notified when it starts and when it ends");
            }
            for r in reg {
                let status = match (r.sent_at, r.acknowledged_at) {
                    (_, Some(_)) => format!(
                        "acknowledged ({})",
                        r.imy_reference.as_deref().unwrap_or_default()
                    ),
                    (Some(s), None) => format!("sent {s}"),
                    (None, None) => "NOT SENT".to_string(),
                };
                println!("{}  {}  {status}", r.id, r.created_at);
            }
        }
        ImyCommand::Show { id, pdf } => match pdf {
            Some(out) => {
                write_private(&out, c.get_bytes(&format!("{}/pdf", path(&id)))?)?;
                eprintln!("wrote {}", out.display());
            }
            None => {
                let rec: mandat_store::imy::ImyRecord = c.get(&path(&id))?;
                println!("{}", mandat_reports::imy_json(&rec));
            }
        },
        ImyCommand::Sent { id } => {
            let r: mandat_store::imy::ImyRecord =
                c.post(&format!("{}/sent", path(&id)), &json!({}))?;
            println!("{} marked sent", r.id);
        }
        ImyCommand::Acknowledged { id, reference } => {
            let r: mandat_store::imy::ImyRecord = c.post(
                &format!("{}/acknowledged", path(&id)),
                &json!({"reference": reference}),
            )?;
            println!("{} acknowledged by IMY", r.id);
        }
    }
    Ok(())
}

/// The request waiting on task `id`, as the server lists it to this user: a decision names it.
fn pending_request(c: &Client, id: &str) -> Result<mandat_law::Timestamp> {
    let tasks: Vec<mandat_control::SubjectView> = c.get("/api/v1/subjects")?;
    let task = tasks.iter().find(|t| t.task.id == id).with_context(|| {
        format!("no subject notification {id} is listed to you: check the id with `mandat subjects list`")
    })?;
    task.pending_at
        .with_context(|| format!("no request on {id} waits for a decision"))
}

pub fn subjects(paths: Paths, cmd: SubjectsCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    match cmd {
        SubjectsCommand::List { json, overdue } => {
            let tasks: Vec<mandat_control::SubjectView> = c.get("/api/v1/subjects")?;
            let tasks: Vec<_> = tasks
                .into_iter()
                .filter(|v| !overdue || v.overdue)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
                return Ok(());
            }
            for v in tasks {
                let t = &v.task;
                let state = match (&t.completed_at, v.closed, v.overdue) {
                    (Some(at), _, _) => format!("notified {at}"),
                    (None, Some(_), _) => "not to be notified (decided)".to_string(),
                    (None, None, true) => format!("OVERDUE since {}", v.due_at),
                    (None, None, false) => format!("due {}", v.due_at),
                };
                let waiting = match v.awaiting {
                    Some(mandat_law::subject::Awaiting::Prosecutor) => {
                        "  (a deferral awaits a prosecutor)"
                    }
                    Some(mandat_law::subject::Awaiting::Decider) => {
                        "  (not notifying awaits the decider)"
                    }
                    None => "",
                };
                println!(
                    "{}  permit {}  person {}  {} identification(s)  {state}{}{waiting}",
                    t.id,
                    t.permit,
                    t.person,
                    t.alerts.len(),
                    if t.deferrals.is_empty() {
                        String::new()
                    } else {
                        format!("  (deferred {} times)", t.deferrals.len())
                    }
                );
            }
        }
        SubjectsCommand::Defer {
            id,
            reason_file,
            until,
        } => {
            let reason = read_text(reason_file.as_deref(), "the reason for deferring")?;
            let until = mandat_law::Timestamp::parse_rfc3339(&until).with_context(|| {
                format!("--until {until:?}: give a UTC time such as 2026-12-01T00:00:00Z")
            })?;
            let t: mandat_control::SubjectView = c.post(
                &format!("/api/v1/subjects/{}/defer", seg(&id)),
                &json!({"reason": reason, "until": until}),
            )?;
            if t.awaiting.is_some() {
                println!(
                    "{} deferral to {until} asked for: a prosecutor of the permit approves it; due {} until then",
                    t.task.id, t.due_at
                );
            } else {
                println!("{} deferred to {}", t.task.id, t.due_at);
            }
        }
        SubjectsCommand::Done { id } => {
            let t: Value = c.post(&format!("/api/v1/subjects/{}/done", seg(&id)), &json!({}))?;
            println!("{} notified", t["id"].as_str().unwrap_or(&id));
        }
        SubjectsCommand::DecideDeferral { id, reject } => {
            let request_at = pending_request(&c, &id)?;
            let t: mandat_control::SubjectView = c.post(
                &format!("/api/v1/subjects/{}/defer/decision", seg(&id)),
                &json!({"approve": !reject, "request_at": request_at}),
            )?;
            let what = if reject { "rejected" } else { "approved" };
            println!("{} deferral {what}: due {}", t.task.id, t.due_at);
        }
        SubjectsCommand::Waive { id, reasons_file } => {
            let reasons = read_text(reasons_file.as_deref(), "the reasons not to notify")?;
            let t: mandat_control::SubjectView = c.post(
                &format!("/api/v1/subjects/{}/waiver", seg(&id)),
                &json!({"reasons": reasons}),
            )?;
            println!(
                "{}: not notifying asked for; the permit's decider decides",
                t.task.id
            );
        }
        SubjectsCommand::DecideWaiver {
            id,
            refuse,
            reasons_file,
        } => {
            let request_at = pending_request(&c, &id)?;
            let reasons = read_text(reasons_file.as_deref(), "the reasons for the decision")?;
            let t: mandat_control::SubjectView = c.post(
                &format!("/api/v1/subjects/{}/waiver/decision", seg(&id)),
                &json!({"approve": !refuse, "reasons": reasons, "request_at": request_at}),
            )?;
            if refuse {
                println!(
                    "{}: refused; the person is to be notified, due {}",
                    t.task.id, t.due_at
                );
            } else {
                println!("{}: the person will not be notified", t.task.id);
            }
        }
    }
    Ok(())
}

pub fn report(paths: Paths, cmd: ReportCommand) -> Result<()> {
    let (path, format, out) = match cmd {
        ReportCommand::Annual { year, format, out } => (
            format!("/api/v1/reports/annual/{year}?format={format}"),
            format,
            out,
        ),
        ReportCommand::Sla {
            owner,
            from,
            until,
            permit,
            format,
            out,
        } => {
            let q = |k: &str, v: &str| format!("&{k}={}", crate::client::seg(v));
            let mut path = format!("/api/v1/reports/sla?format={format}{}", q("owner", &owner));
            match (from, until, permit) {
                (Some(f), Some(u), None) => {
                    path.push_str(&q("from", &f));
                    path.push_str(&q("until", &u));
                }
                (None, None, Some(p)) => path.push_str(&q("permit", &p)),
                _ => bail!("give --from DAY --until DAY, or --permit ID"),
            }
            (path, format, out)
        }
    };
    if !["json", "csv", "pdf"].contains(&format.as_str()) {
        bail!("--format {format:?}: use json, csv or pdf");
    }
    if format == "pdf" && out.is_none() {
        bail!("a PDF needs --out FILE");
    }
    let bytes = Client::logged_in(&paths)?.get_bytes(&path)?;
    match out {
        Some(path) => {
            write_private(&path, &bytes)?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(())
}

fn print_alert(a: &AlertRecord) {
    println!(
        "{}  {:<9} permit {} camera {} person {} score {:.3} / {:.3} captured {} frame {}",
        a.id,
        a.state.as_str(),
        a.permit,
        a.camera,
        a.person,
        a.score,
        a.threshold,
        a.captured_at,
        a.frame_index
    );
    if let Some(last) = a.last_seen_at.filter(|_| a.sightings > 0) {
        println!("    seen {} times, last captured {last}", a.sightings + 1);
    }
    for r in &a.reviews {
        println!(
            "    {:?} by {} at {}: {}",
            r.verdict,
            r.reviewer,
            r.at,
            clean(&r.reason)
        );
    }
}

pub fn alerts(paths: Paths, cmd: AlertsCommand) -> Result<()> {
    let c = Client::logged_in(&paths)?;
    let path = |id: &str| format!("/api/v1/alerts/{}", seg(id));
    match cmd {
        AlertsCommand::List { limit, json } => {
            let list: Vec<AlertRecord> = c.get(&format!("/api/v1/alerts?limit={limit}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                list.iter().for_each(print_alert);
            }
        }
        AlertsCommand::Show { id, json } => {
            let a: AlertRecord = c.get(&path(&id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                print_alert(&a);
            }
        }
        AlertsCommand::Review {
            id,
            confirm,
            reason_file,
            ..
        } => {
            let reason = match (&reason_file, confirm) {
                (None, true) => String::new(),
                _ => read_text(reason_file.as_deref(), "the reason")?,
            };
            let verdict = if confirm {
                Verdict::Confirm
            } else {
                Verdict::Reject
            };
            let a: AlertRecord = c.post(
                &format!("{}/review", path(&id)),
                &json!({"verdict": verdict, "reason": reason}),
            )?;
            println!("alert {} is {}", a.id, a.state.as_str());
        }
        AlertsCommand::Export { id, out } => {
            // The file first, new and private: a package that cannot be written is never
            // confirmed, so the server keeps the images.
            let mut file = create_new_private(&out)?;
            let package: Value = match c.post(&format!("{}/export", path(&id)), &json!({})) {
                Ok(p) => p,
                Err(e) => {
                    drop(file);
                    let _ = std::fs::remove_file(&out);
                    return Err(e);
                }
            };
            let text = serde_json::to_string_pretty(&package)?;
            file.write_all(text.as_bytes())
                .and_then(|_| file.sync_all())
                .with_context(|| format!("writing {}", out.display()))?;
            let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
            let _: Value = c.post(
                &format!("{}/export/confirm", path(&id)),
                &json!({"package_sha256": digest}),
            )?;
            println!(
                "alert {id} exported to {} (mode 600, sha256 {digest}); the server has erased its images. Check it with `mandat evidence verify {} --public-key <the audit key you pinned>`",
                out.display(),
                out.display(),
            );
        }
        AlertsCommand::Dispatch { id, note_file } => {
            let note = match &note_file {
                Some(f) => read_text(Some(f), "the note")?,
                None => String::new(),
            };
            let _: Value = c.post(&format!("{}/dispatch", path(&id)), &json!({"note": note}))?;
            println!("dispatch on alert {id} recorded");
        }
        AlertsCommand::Watch { json } => {
            // Polls the server; a revoked session or a disabled account ends the watch at the
            // next poll, with the server's answer.
            let mut seen = std::collections::HashMap::new();
            let mut after = 0;
            loop {
                let list: Vec<AlertRecord> =
                    c.get(&format!("/api/v1/alerts?after={after}&limit=500"))?;
                for a in list.into_iter().rev() {
                    if seen.insert(a.id.clone(), a.state) != Some(a.state) {
                        if json {
                            println!(
                                "{}",
                                serde_json::to_string(&mandat_control::AlertEvent::from_record(
                                    &a
                                ))?
                            );
                        } else {
                            print_alert(&a);
                        }
                        std::io::stdout().flush()?;
                    }
                }
                // Re-read the last hour, so state changes (reviews, expiry) show too.
                after = wall_now().0 - 3_600_000;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    Ok(())
}
