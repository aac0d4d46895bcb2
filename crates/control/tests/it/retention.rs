//! The retention schedule, rule by rule, with the test clock; each erasure proven by scanning the
//! bytes the database keeps (SQLite: every file it wrote; PostgreSQL: every row read back, after
//! the vacuum). Then legal holds, and the key rotation that defeats a backup of the data.

use mandat_control::DEFAULT_ALERT_TTL_MS;
use mandat_law::review::Verdict;
use mandat_law::{Actor, Outcome, Purpose, Role};
use mandat_store::{SecretKey, Store, WrapKeys};
use mandat_testkit::{Db, ORIGIN, databases, raw_pool};
use sqlx::Row;

use crate::common::*;

const DAY_MS: i64 = 24 * 3_600_000;

/// The sealed blobs of one alert's crop and frame as stored now.
async fn media_of(e: &Env, alert: &str) -> Vec<Vec<u8>> {
    let raw = raw_pool(&e.url).await;
    let r = sqlx::query("SELECT crop_sealed, frame_sealed FROM alerts WHERE id = $1")
        .bind(alert.to_string())
        .fetch_one(&raw)
        .await
        .unwrap();
    let v = [
        r.get::<Option<Vec<u8>>, _>("crop_sealed"),
        r.get::<Option<Vec<u8>>, _>("frame_sealed"),
    ]
    .into_iter()
    .flatten()
    .collect();
    raw.close().await;
    v
}

fn rev2() -> Actor {
    Actor::new("rev2", &[Role::Reviewer])
}

async fn review(e: &Env, who: &Actor, alert: &str, v: Verdict) {
    let reason = if v == Verdict::Reject {
        "not the person sought"
    } else {
        ""
    };
    e.control
        .review(&e.act(who), alert, v, reason, ORIGIN)
        .await
        .unwrap();
}

/// The certificates of the retention schedule in the audit log, by rule.
async fn erased_by(e: &Env, rule: &str) -> Vec<serde_json::Value> {
    let (entries, _) = e.store.audit_log().await.unwrap();
    entries
        .into_iter()
        .filter(|x| x.action == "retention.erase" && x.details["rule"] == rule)
        .map(|x| x.details)
        .collect()
}

#[tokio::test]
async fn every_retention_rule_erases_on_its_day_and_leaves_no_bytes() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
        let id = granted(&e).await;
        for a in ["A-rejected", "A-expired", "A-verified"] {
            // Seen apart: three candidates, not one with sightings.
            e.clock.advance(mandat_store::alerts::FOLD_WINDOW_MS + 1);
            e.control.raise_alert(hit(&e, a, &id).await).await.unwrap();
        }
        let mut gone = Vec::new();
        // The log, which outlives every erasure, names the alert and not the sighting.
        let (entries, _) = e.store.audit_log().await.unwrap();
        for x in entries.iter().filter(|x| x.action == "alert.candidate") {
            for key in ["camera", "person", "captured_at", "frame", "score"] {
                assert!(x.details.get(key).is_none(), "{key} in {}", x.details);
            }
            assert_eq!(x.origin, "engine");
        }

        // The data key of the day, as a backup of data and keys would hold it.
        let old_key = data_key_now(&e, &id).await;
        // A rejected face is a passer-by's: its crop and frame go at the rejection.
        let media = media_of(&e, "A-rejected").await;
        review(&e, &reviewer(), "A-rejected", Verdict::Reject).await;
        assert!(media_of(&e, "A-rejected").await.is_empty(), "{db:?}");
        let err = e
            .store
            .alert_media("A-rejected")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("erased under the retention schedule"), "{err}");
        let certs = erased_by(&e, "rejected-alert-media").await;
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0]["alert_media"][0], "A-rejected");
        assert_eq!(certs[0]["data_key_replaced"], true, "the rest sealed anew");
        assert!(certs[0]["ground"].as_str().unwrap().contains("2016/680"));
        gone.extend(media);
        assert_gone(&e, &gone, "rejected alert").await;
        // What the permit keeps is sealed anew: the old data key opens none of it.
        let kept = media_of(&e, "A-verified").await;
        assert!(
            old_key
                .open(&kept[0], format!("alert-crop:{id}/A-verified").as_bytes())
                .is_err(),
            "{db:?}: resealed"
        );
        assert!(
            data_key_now(&e, &id)
                .await
                .open(&kept[0], format!("alert-crop:{id}/A-verified").as_bytes())
                .is_ok()
        );

        // A verified alert keeps its images while the case may need them.
        review(&e, &reviewer(), "A-verified", Verdict::Confirm).await;
        review(&e, &rev2(), "A-verified", Verdict::Confirm).await;

        // Nobody reviewed this one in time: its images go at the expiry.
        let media = media_of(&e, "A-expired").await;
        e.clock.advance(DEFAULT_ALERT_TTL_MS);
        e.control.tick(ORIGIN).await.unwrap();
        assert_eq!(
            e.store.alert("A-expired").await.unwrap().state.as_str(),
            "expired"
        );
        assert!(media_of(&e, "A-expired").await.is_empty(), "{db:?}");
        assert_eq!(erased_by(&e, "expired-alert-media").await.len(), 1);
        gone.extend(media);
        assert_gone(&e, &gone, "expired alert").await;

        // The use ends (a stop): reference photos and templates go at once.
        let reference: Vec<Vec<u8>> = {
            let raw = raw_pool(&e.url).await;
            let mut v = Vec::new();
            for q in [
                "SELECT sealed AS b FROM photos WHERE permit_id = $1",
                "SELECT sealed AS b FROM templates WHERE permit_id = $1",
            ] {
                let r = sqlx::query(q)
                    .bind(id.clone())
                    .fetch_one(&raw)
                    .await
                    .unwrap();
                v.push(r.get::<Vec<u8>, _>("b"));
            }
            raw.close().await;
            v
        };
        e.control
            .stop(&e.act(&officer()), &id, "the person was found", ORIGIN)
            .await
            .unwrap();
        assert!(e.store.enrolled_photos(&id).await.unwrap().is_empty());
        assert!(e.store.template_ids(&id).await.unwrap().is_empty());
        let certs = erased_by(&e, "reference-data").await;
        assert_eq!(certs.len(), 1, "{db:?}");
        let (_, photo) = person_of(&e, &id).await;
        assert_eq!(certs[0]["photos"][0], photo.as_str());
        assert_eq!(certs[0]["templates"][0], format!("{photo}.t"));
        assert!(certs[0]["key_rotated_to"].is_null(), "logged before it");
        let kept = e.store.permit(&id).await.unwrap();
        assert_eq!(kept.application.persons[0].label, "[erased]");
        gone.extend(reference);
        assert_gone(&e, &gone, "reference data").await;
        // The verified alert's images are still there, readable.
        assert!(e.store.alert_media("A-verified").await.is_ok());

        // Thirty days after the end of use, they go too, and the data key that sealed them.
        e.clock.advance(30 * DAY_MS - 2 * 3_600_000);
        e.control.tick(ORIGIN).await.unwrap();
        assert!(e.store.alert_media("A-verified").await.is_ok(), "not yet");
        let last = sealed(&e, &id).await;
        e.clock.advance(2 * 3_600_000);
        let certs = e.control.tick(ORIGIN).await.unwrap();
        let cert = certs
            .iter()
            .find(|c| c.rule == "verified-alert-media")
            .expect("erased on the day");
        assert_eq!(cert.alert_media, ["A-verified"]);
        // The record's text stays, sealed under a new key: the old one opens nothing here.
        assert!(!cert.wrapped_key_deleted && cert.data_key_replaced);
        assert!(cert.key_rotated_to.is_some(), "and the epoch moved on");
        assert!(e.store.alert_media("A-verified").await.is_err());
        gone.extend(last);
        assert_gone(&e, &gone, "verified alert and data key").await;
        assert_eq!(
            sealed(&e, &id).await.len(),
            2,
            "the record's text and its key"
        );
        // The alerts' records stay for accountability, without images.
        assert_eq!(
            e.store.alert("A-verified").await.unwrap().state.as_str(),
            "verified"
        );
        // Every erasure in the log, and the log intact.
        let (entries, cps) = mandat_store::read_audit_log(&e.url).await.unwrap();
        assert!(entries.iter().any(|x| x.action == "keys.rotate"));
        let key = mandat_audit::parse_public_key(&e.store.audit_public_key()).unwrap();
        assert!(matches!(
            mandat_audit::verify(&entries, &cps, &key),
            mandat_audit::Verdict::Intact { .. }
        ));
    }
}

#[tokio::test]
async fn a_legal_hold_keeps_the_data_until_lifted_but_never_past_a_refusal() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        // A row a DBA broke (an alert state mandat never writes) holds back no other work.
        let other = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-2", &other).await)
            .await
            .unwrap();
        e.clock.advance(mandat_store::alerts::FOLD_WINDOW_MS + 1);
        e.control
            .raise_alert(hit(&e, "A-3", &other).await)
            .await
            .unwrap();
        let raw = raw_pool(&e.url).await;
        sqlx::query("UPDATE alerts SET state = 'bogus' WHERE id = 'A-2'")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        review(&e, &reviewer(), "A-3", Verdict::Reject).await;
        e.control.tick(ORIGIN).await.unwrap();
        assert!(e.store.alert_media("A-3").await.is_err(), "{db:?}: erased");
        // Only the permit's prosecutor or judge holds, never the applicant or an admin.
        for who in [officer(), admin(), reviewer()] {
            assert!(
                e.control
                    .hold(&e.act(&who), &id, "keep", ORIGIN)
                    .await
                    .is_err(),
                "{who:?}"
            );
        }
        let p = e
            .control
            .hold(
                &e.act(&pros()),
                &id,
                "the defence asked for the footage",
                ORIGIN,
            )
            .await
            .unwrap();
        assert_eq!(p.hold.unwrap().by, "pros");
        review(&e, &reviewer(), "A-1", Verdict::Reject).await;
        e.control
            .stop(&e.act(&officer()), &id, "found", ORIGIN)
            .await
            .unwrap();
        e.clock.advance(40 * DAY_MS);
        e.control.tick(ORIGIN).await.unwrap();
        assert!(e.store.alert_media("A-1").await.is_ok(), "{db:?}: held");
        assert_eq!(
            e.store.enrolled_photos(&id).await.unwrap(),
            [person_of(&e, &id).await.1]
        );
        let held = sealed(&e, &id).await;
        // Lifted: what is due goes at once.
        e.control
            .release_hold(&e.act(&pros()), &id, ORIGIN)
            .await
            .unwrap();
        assert!(e.store.alert_media("A-1").await.is_err());
        assert!(e.store.enrolled_photos(&id).await.unwrap().is_empty());
        assert_gone(&e, &held, "after the hold").await;
        let (entries, _) = e.store.audit_log().await.unwrap();
        for action in ["permit.hold", "permit.hold_released"] {
            let x = entries.iter().find(|x| x.action == action).unwrap();
            assert_eq!(x.actor, "pros", "{action}");
        }

        // A refusal's erasure is immediate by law: a hold does not delay it.
        let urgent = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        e.control
            .urgent_start(&e.act(&officer()), &urgent, "the threat is now", ORIGIN)
            .await
            .unwrap();
        e.control
            .hold(&e.act(&pros()), &urgent, "keep it", ORIGIN)
            .await
            .unwrap();
        e.control
            .apply(&e.act(&officer()), &urgent, ORIGIN)
            .await
            .unwrap();
        let (p, cert) = e
            .control
            .decide(&e.act(&pros()), &urgent, Outcome::Refuse, "no", ORIGIN)
            .await
            .unwrap();
        assert!(p.purged && cert.unwrap().rule == "refused-use", "{db:?}");
        assert_eq!(e.store.biometric_rows(&urgent).await.unwrap(), 0);
    }
}

/// The permit's data key now, unwrapped with the key directory's wrapping key.
async fn data_key_now(e: &Env, permit: &str) -> SecretKey {
    let raw = raw_pool(&e.url).await;
    let wrapped: Vec<u8> = sqlx::query("SELECT wrapped FROM permit_keys WHERE permit_id = $1")
        .bind(permit.to_string())
        .fetch_one(&raw)
        .await
        .unwrap()
        .get("wrapped");
    raw.close().await;
    wrap_key_in(&e.dir.path().join("wrap.key"))
        .unwrap_key(&wrapped, permit)
        .unwrap()
}

/// The wrapping key of `file` (the key directory's `wrap.key`), as a thief of it would read it.
fn wrap_key_in(file: &std::path::Path) -> SecretKey {
    let text = std::fs::read_to_string(file).unwrap();
    SecretKey::from_hex(text.lines().nth(2).unwrap(), "wrap key").unwrap()
}

#[tokio::test]
async fn key_rotation_defeats_a_backup_of_the_data() {
    for db in databases() {
        let e = env(db).await;
        let id = drafted(&e, Purpose::ImminentThreat, &officer()).await;
        e.control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        // The backup: the data directory's database (or the rows a dump holds), keys apart.
        let backup = tempfile::tempdir().unwrap();
        let copy = backup.path().join("mandat.db");
        let raw = raw_pool(&e.url).await;
        if db == Db::Sqlite {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "VACUUM INTO '{}'",
                copy.display()
            )))
            .execute(&raw)
            .await
            .unwrap();
        }
        let row = sqlx::query("SELECT wrapped, epoch FROM permit_keys WHERE permit_id = $1")
            .bind(id.clone())
            .fetch_one(&raw)
            .await
            .unwrap();
        let (wrapped, epoch): (Vec<u8>, i64) = (row.get("wrapped"), row.get("epoch"));
        let photo: Vec<u8> = sqlx::query("SELECT sealed FROM photos WHERE permit_id = $1")
            .bind(id.clone())
            .fetch_one(&raw)
            .await
            .unwrap()
            .get("sealed");
        raw.close().await;
        let wrap_file = e.dir.path().join("wrap.key");
        // The test has teeth: with the key of that day, the backup opens the photo.
        let then = wrap_key_in(&wrap_file);
        let data_key = then.unwrap_key(&wrapped, &id).unwrap();
        assert_eq!(
            data_key
                .open(
                    &photo,
                    format!("photo:{id}/{}", person_of(&e, &id).await.1).as_bytes()
                )
                .unwrap(),
            PHOTO
        );

        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let (_, cert) = e
            .control
            .decide(&e.act(&pros()), &id, Outcome::Refuse, "no", ORIGIN)
            .await
            .unwrap();
        let cert = cert.unwrap();
        assert!(cert.wrapped_key_deleted);
        assert_eq!(cert.key_epoch, epoch);
        let rotated = cert.key_rotated_to.expect("the purge rotates the epoch");
        assert!(rotated > epoch);
        assert!(e.store.key_epoch().await.unwrap().0 == rotated);

        let person = person_of(&e, &id).await.0;
        // Now every key the installation holds fails on the backup's wrapped key.
        let master = SecretKey::from_hex(&e.master_hex, "master").unwrap();
        let now = wrap_key_in(&wrap_file);
        for (name, k) in [("master", &master), ("wrapping key", &now)] {
            assert!(k.unwrap_key(&wrapped, &id).is_err(), "{db:?}: {name}");
        }
        assert!(
            !std::fs::read_dir(e.dir.path()).unwrap().any(|f| {
                let p = f.unwrap().path();
                p != wrap_file
                    && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(&then.to_hex()))
            }),
            "the old wrapping key is nowhere in the key directory"
        );
        // And mandat itself, opening the backup with those keys, can read nothing of the permit.
        if db == Db::Sqlite {
            let old = Store::open(
                &format!("sqlite://{}", copy.display()),
                SecretKey::from_hex(&e.master_hex, "master").unwrap(),
                mandat_audit::AuditKey::from_bytes(e.audit_bytes),
                WrapKeys::file(&wrap_file).unwrap(),
            )
            .await
            .unwrap();
            let err = old
                .reference_photo(&id, &person)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("cannot be decrypted, by design"), "{err}");
            assert!(old.alert_media("A-1").await.is_err());
            assert!(old.snapshot().await.is_err(), "no template decrypts");
            old.close().await;
        }
    }
}

/// What an applicant or a decider wrote by hand (labels, photo sources, the offence, every reason)
/// is sealed under the permit's key: a DBA reading the table sees none of it, and the purge that
/// shreds the key shreds it. The ids the server gave say nothing about who a person is.
#[tokio::test]
async fn a_permits_free_text_is_sealed_and_a_refusal_shreds_it() {
    const TEXT: [&str; 6] = [
        "Anna Svensson",
        "passport photo 19850101",
        "mord (BrB 3:1) on Anna's neighbour",
        "she was seen at Sergels torg",
        "the court finds it not necessary",
        "her brother said he would do it tonight",
    ];
    for db in databases() {
        let e = env(db).await;
        let mut a = application(Purpose::ImminentThreat);
        a.offence = application(Purpose::SuspectLocation).offence;
        a.persons[0].id = "anna-svensson".into();
        a.persons[0].label = TEXT[0].into();
        a.persons[0].photos[0].id = "anna-passport".into();
        a.persons[0].photos[0].source = TEXT[1].into();
        // Described by hand, not from the catalogue: the applicant's own words (no suspect: a
        // threat is not a suspect search).
        a.offence.as_mut().unwrap().code = None;
        a.offence.as_mut().unwrap().suspicion = None;
        a.offence.as_mut().unwrap().description = TEXT[2].into();
        a.threat.as_mut().unwrap().imminence = TEXT[5].into();
        a.reasons.necessity = TEXT[3].into();
        let id = drafted_with(&e, a, &officer()).await;
        // The police typed the offence: the deciding prosecutor confirms it before the start.
        e.control
            .confirm_offence(&e.act(&pros()), &id, ORIGIN)
            .await
            .unwrap();
        let p = e.store.permit(&id).await.unwrap();
        // Read through mandat, by those who may: the text as written, under ids of the server's.
        assert_eq!(p.application.persons[0].label, TEXT[0]);
        assert_eq!(p.application.reasons.necessity, TEXT[3]);
        let person = &p.application.persons[0];
        assert!(
            person.id.starts_with("P-") && person.id.len() == 18,
            "{}",
            person.id
        );
        assert!(person.photos[0].id.starts_with("ph-"));
        // Read from the table, as a DBA would: none of it, and not the client's ids either.
        let raw = raw_pool(&e.url).await;
        let doc: String = sqlx::query("SELECT doc FROM permits WHERE id = $1")
            .bind(id.clone())
            .fetch_one(&raw)
            .await
            .unwrap()
            .get("doc");
        raw.close().await;
        for s in TEXT.iter().chain(&["anna-svensson", "anna-passport"]) {
            assert!(!doc.contains(s), "{db:?}: {s} in the stored document");
        }
        let (entries, _) = e.store.audit_log().await.unwrap();
        let log = serde_json::to_string(&entries).unwrap();
        assert!(
            !TEXT.iter().any(|s| log.contains(s)),
            "{db:?}: text in the log"
        );

        // An urgent use, refused: everything it produced goes.
        e.control
            .urgent_start(&e.act(&officer()), &id, "the threat is now", ORIGIN)
            .await
            .unwrap();
        e.control
            .apply(&e.act(&officer()), &id, ORIGIN)
            .await
            .unwrap();
        let before = sealed(&e, &id).await;
        e.control
            .decide(&e.act(&pros()), &id, Outcome::Refuse, TEXT[4], ORIGIN)
            .await
            .unwrap();
        // The record stays, for accountability, with markers where the text was.
        let p = e.store.permit(&id).await.unwrap();
        assert!(p.purged);
        assert_eq!(p.application.persons[0].label, "[purged]");
        assert_eq!(p.application.offence.unwrap().description, "[purged]");
        assert_eq!(p.application.threat.unwrap().imminence, "[purged]");
        assert_eq!(p.decision.unwrap().reasons, "[purged]");
        assert!(sealed(&e, &id).await.is_empty(), "{db:?}");
        assert_gone(&e, &before, "the sealed text and its key").await;
        if db == Db::Sqlite {
            let mut all = Vec::new();
            for f in std::fs::read_dir(e.dir.path()).unwrap() {
                all.extend(std::fs::read(f.unwrap().path()).unwrap());
            }
            for s in TEXT {
                assert!(
                    !all.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{s} on disk"
                );
            }
        }
    }
}

/// A DBA without keys who moves sealed text between permits, or drops it to leave the bare
/// document, gets a record mandat refuses: the MAC binds the document to its own sealed text.
#[tokio::test]
async fn a_dba_who_swaps_or_drops_a_permits_sealed_text_gets_nothing() {
    for db in databases() {
        let e = env(db).await;
        let a = drafted(&e, Purpose::VictimSearch, &officer()).await;
        let b = drafted(&e, Purpose::VictimSearch, &officer()).await;
        let raw = raw_pool(&e.url).await;
        let text_of = |id: String| {
            let raw = raw.clone();
            async move {
                sqlx::query("SELECT sealed FROM permits WHERE id = $1")
                    .bind(id)
                    .fetch_one(&raw)
                    .await
                    .unwrap()
                    .get::<Vec<u8>, _>("sealed")
            }
        };
        let of_b = text_of(b.clone()).await;
        sqlx::query("UPDATE permits SET sealed = $1 WHERE id = $2")
            .bind(of_b)
            .bind(a.clone())
            .execute(&raw)
            .await
            .unwrap();
        let err = e.store.permit(&a).await.unwrap_err();
        assert!(
            matches!(err, mandat_store::StoreError::Tampered(_)),
            "{db:?}: {err}"
        );
        sqlx::query("UPDATE permits SET sealed = NULL WHERE id = $1")
            .bind(b.clone())
            .execute(&raw)
            .await
            .unwrap();
        let err = e.store.permit(&b).await.unwrap_err();
        assert!(
            matches!(err, mandat_store::StoreError::Tampered(_)),
            "{db:?}: {err}"
        );
        raw.close().await;
        // Neither is listed, matched for or acted on.
        assert!(e.store.permits().await.unwrap().is_empty(), "{db:?}");
    }
}
