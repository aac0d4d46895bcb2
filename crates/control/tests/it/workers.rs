//! Workers and their leases, as an insider would test them: a worker asks for a camera it does
//! not lease, sends an alert under another's lease or an old epoch, sends one twice, is disabled
//! mid-lease; a DBA ages every worker at once. On SQLite and PostgreSQL.

use std::time::Duration;

use mandat_control::workers::{AlertUpload, GrantRequest, LeaseRequest, PROTOCOL};
use mandat_law::Clock;
use mandat_store::workers::WorkerRecord;
use sqlx::Row;

use crate::common::*;

pub(crate) fn csr(id: &str) -> String {
    mandat_control::pki::worker_request(id).unwrap().1
}

/// Enrolled by one admin, approved by the other.
pub(crate) async fn enrol(e: &Env, id: &str) -> WorkerRecord {
    let w = e
        .control
        .enrol_worker(&e.act(&admin()), id, &csr(id), 4, ORIGIN)
        .await
        .unwrap()
        .worker;
    e.control
        .approve_worker(&e.act(&admin2()), id, ORIGIN)
        .await
        .unwrap();
    w
}

async fn renew(e: &Env, w: &WorkerRecord) -> usize {
    e.control
        .lease(w, &LeaseRequest { protocol: PROTOCOL })
        .await
        .unwrap()
        .cameras
        .len()
}

/// Leases are timed by the database's clock, alerts by the test's fake one (months earlier):
/// the test dates every lease's start to the fake clock's past, as the real clocks would agree.
async fn backdate(e: &Env, to: i64) {
    let pool = raw_pool(&e.url).await;
    sqlx::query("UPDATE assignments SET granted_at = $1")
        .bind(to)
        .execute(&pool)
        .await
        .unwrap();
}

async fn place(e: &Env) {
    e.scope.reload(&e.store).await;
    let demand = e.scope.demand(Duration::from_secs(60)).unwrap();
    e.control.place(&demand, false).await.unwrap();
}

async fn grant(e: &Env, w: &WorkerRecord, camera: &str, epoch: i64) -> usize {
    e.scope.reload(&e.store).await;
    let g = e
        .control
        .grant(
            w,
            &GrantRequest {
                protocol: PROTOCOL,
                cameras: vec![(camera.into(), epoch)],
                embedder: None,
            },
        )
        .await
        .unwrap();
    g.cameras.iter().map(|c| c.entries.len()).sum()
}

async fn audit_count(e: &Env, action: &str) -> usize {
    e.store
        .audit_log()
        .await
        .unwrap()
        .0
        .iter()
        .filter(|x| x.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_fence_grants_and_alerts_and_a_disabled_worker_is_cut_off() {
    for db in databases() {
        let e = env(db).await;
        let id = granted(&e).await;
        // Only admins enrol; an id and a certificate are used once.
        assert!(
            e.control
                .enrol_worker(&e.act(&officer()), "wx", &csr("wx"), 4, ORIGIN)
                .await
                .is_err()
        );
        // One admin alone cannot bring a worker in: it is refused until another approves it.
        let pending = e
            .control
            .enrol_worker(&e.act(&admin()), "w0", &csr("w0"), 4, ORIGIN)
            .await
            .unwrap()
            .worker;
        assert!(
            e.store
                .worker_by_fingerprint(pending.fingerprint.as_deref().unwrap())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            e.control
                .approve_worker(&e.act(&admin()), "w0", ORIGIN)
                .await
                .is_err()
        );
        let w1 = enrol(&e, "w1").await;
        let w2 = enrol(&e, "w2").await;
        assert!(
            e.control
                .enrol_worker(&e.act(&admin()), "w1", &csr("w1"), 4, ORIGIN)
                .await
                .is_err()
        );
        for w in [&w1, &w2] {
            e.control
                .lease(w, &LeaseRequest { protocol: PROTOCOL })
                .await
                .unwrap();
        }
        // cam-1 is under the permit, cam-2 under none: one lease, on one of the two.
        place(&e).await;
        let leases = e.store.leases().await.unwrap();
        assert_eq!(leases.len(), 1, "{db:?}: {leases:?}");
        assert_eq!(leases[0].camera, "cam-1");
        let epoch = leases[0].epoch;
        let (holder, other) = if leases[0].worker == "w1" {
            (&w1, &w2)
        } else {
            (&w2, &w1)
        };
        let answer = e
            .control
            .lease(holder, &LeaseRequest { protocol: PROTOCOL })
            .await
            .unwrap();
        assert_eq!(answer.cameras.len(), 1);
        assert!(answer.cameras[0].url.starts_with("rtsp://"));
        assert!(
            e.control
                .lease(other, &LeaseRequest { protocol: PROTOCOL })
                .await
                .unwrap()
                .cameras
                .is_empty()
        );

        // Camera health counts from the lease holder, for the camera it leases, only.
        let sample = |camera: &str, frames: u64| mandat_store::camera_days::HealthSample {
            camera: camera.into(),
            connected: true,
            frames_in: frames,
            faces_seen: 0,
            faces_identifiable: 0,
            passers_by: 0,
            fitness: "fit".into(),
            reasons: vec![],
        };
        e.clock.advance(60_000);
        let counted = e
            .control
            .worker_health(holder, &[sample("cam-1", 100), sample("cam-2", 7)], 60_000)
            .await
            .unwrap();
        assert_eq!(counted, 1, "{db:?}: only its leased camera");
        let counted = e
            .control
            .worker_health(other, &[sample("cam-1", 5000)], 60_000)
            .await
            .unwrap();
        assert_eq!(counted, 0, "{db:?}: another worker's camera");
        let day = e.control.now().unwrap().stockholm_date();
        let days = e
            .control
            .camera_days(&e.act(&auditor()), &day, &day)
            .await
            .unwrap();
        assert_eq!(days.len(), 1, "{db:?}: {days:?}");
        assert_eq!((days[0].camera.as_str(), days[0].frames_in), ("cam-1", 100));

        // The watchlist goes to the lease holder under its epoch, and to nobody else.
        renew(&e, holder).await;
        assert_eq!(grant(&e, holder, "cam-1", epoch).await, 1, "{db:?}");
        assert_eq!(grant(&e, holder, "cam-1", epoch + 1).await, 0);
        assert_eq!(grant(&e, other, "cam-1", epoch).await, 0);
        assert_eq!(grant(&e, holder, "cam-2", epoch).await, 0);
        // A worker on another embedder gets no templates: it would compare two models' vectors.
        let err = e
            .control
            .grant(
                holder,
                &GrantRequest {
                    protocol: PROTOCOL,
                    cameras: vec![("cam-1".into(), epoch)],
                    embedder: Some(mandat_law::risk::ModelRef {
                        name: "procured".into(),
                        sha256: "9".repeat(64),
                    }),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "model_gates", "{db:?}: {err}");
        assert!(
            err.to_string().contains("--embedder sface-2021dec"),
            "{err}"
        );

        // Alerts: only from the holder under its epoch, captured while it held the lease; a
        // resend is stored once.
        let t = e.clock.now().unwrap().0;
        backdate(&e, t + 3_600_000).await;
        let early = e
            .control
            .worker_alert(
                holder,
                AlertUpload::new(&hit(&e, "A-w-0", &id).await, epoch),
            )
            .await;
        assert!(early.is_err(), "{db:?}: an alert from before its lease");
        backdate(&e, t - 3_600_000).await;
        renew(&e, holder).await;
        let alert = hit(&e, "A-w-1", &id).await;
        let refused = [
            e.control
                .worker_alert(other, AlertUpload::new(&alert, epoch))
                .await,
            e.control
                .worker_alert(holder, AlertUpload::new(&alert, epoch - 1))
                .await,
        ];
        assert!(refused.iter().all(|r| r.is_err()), "{db:?}");
        let first = e
            .control
            .worker_alert(holder, AlertUpload::new(&alert, epoch))
            .await
            .unwrap();
        let again = e
            .control
            .worker_alert(holder, AlertUpload::new(&alert, epoch))
            .await
            .unwrap();
        assert!(first.new && !again.new);
        // A threshold of the worker's own choosing, below the permit's, is not taken.
        let mut low = AlertUpload::new(&hit(&e, "A-w-low", &id).await, epoch);
        low.threshold = 0.05;
        low.score = 0.1;
        assert!(e.control.worker_alert(holder, low).await.is_err());
        assert_eq!(audit_count(&e, "alert.candidate").await, 1);

        // Disabled: its certificate names no worker any more, its lease is gone, in the log.
        e.control
            .disable_worker(&e.act(&admin()), &holder.id, ORIGIN)
            .await
            .unwrap();
        let fp = holder.fingerprint.clone().unwrap();
        assert!(e.store.worker_by_fingerprint(&fp).await.unwrap().is_none());
        assert_eq!(grant(&e, holder, "cam-1", epoch).await, 0);
        assert_eq!(audit_count(&e, "worker.disabled").await, 1);
        // The camera moves to the other worker, under a new epoch.
        e.control
            .lease(other, &LeaseRequest { protocol: PROTOCOL })
            .await
            .unwrap();
        place(&e).await;
        backdate(&e, t - 3_600_000).await;
        let moved = e.store.leases().await.unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].worker, other.id);
        assert!(moved[0].epoch > epoch);

        // A DBA (or a database failover) makes every worker look silent at once: the mass
        // failure brake keeps the camera where it is.
        let pool = raw_pool(&e.url).await;
        sqlx::query("UPDATE workers SET last_seen = 0")
            .execute(&pool)
            .await
            .unwrap();
        place(&e).await;
        assert_eq!(e.store.leases().await.unwrap()[0].worker, other.id);
        // With a live worker beside it, a silent one loses its camera (lease expired).
        let w3 = enrol(&e, "w3").await;
        e.control
            .lease(&w3, &LeaseRequest { protocol: PROTOCOL })
            .await
            .unwrap();
        place(&e).await;
        let now = e.store.leases().await.unwrap();
        assert_eq!(now[0].worker, "w3", "{db:?}");
        // A hit captured while the silent worker still held the camera, delivered late (after a
        // partition), is still its own; under the new holder's epoch it is not.
        e.clock.advance(31_000);
        let late = hit(&e, "A-w-3", &id).await;
        assert!(
            e.control
                .worker_alert(other, AlertUpload::new(&late, now[0].epoch))
                .await
                .is_err()
        );
        assert!(
            e.control
                .worker_alert(other, AlertUpload::new(&late, moved[0].epoch))
                .await
                .unwrap()
                .new,
            "{db:?}: a late alert of a lease since released"
        );
        // Captured after that lease ended (and its 5 s margin): not the worker's.
        let ended = e.clock.now().unwrap().0;
        sqlx::query("UPDATE lease_history SET released_at = $1 WHERE epoch = $2")
            .bind(ended)
            .bind(moved[0].epoch)
            .execute(&pool)
            .await
            .unwrap();
        e.clock.advance(31_000);
        let after = e
            .control
            .worker_alert(
                other,
                AlertUpload::new(&hit(&e, "A-w-4", &id).await, moved[0].epoch),
            )
            .await
            .unwrap_err();
        assert!(after.to_string().contains("did not lease"), "{after}");
        let released: Vec<String> = e
            .store
            .audit_log()
            .await
            .unwrap()
            .0
            .iter()
            .filter(|x| x.action == "camera.released")
            .map(|x| x.details["reason"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(released, ["worker-disabled", "lease-expired"], "{db:?}");
        let epochs: Vec<i64> = sqlx::query("SELECT n FROM lease_epoch")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<i64, _>("n"))
            .collect();
        assert_eq!(epochs, [now[0].epoch]);
        let (entries, cps) = mandat_store::read_audit_log(&e.url).await.unwrap();
        let key = mandat_audit::parse_public_key(&e.store.audit_public_key()).unwrap();
        assert!(matches!(
            mandat_audit::verify(&entries, &cps, &key),
            mandat_audit::Verdict::Intact { .. }
        ));
    }
}

/// A DBA edits worker rows: approves a worker no second admin approved, names another admin as the
/// enroller so the first can approve their own machine, enables a disabled worker or restores its
/// row from before the disabling (MAC included), lets a trigger approve workers as mandat enrols
/// them, renames a good row, copies its MAC, swaps a certificate fingerprint for one whose key they
/// hold. Every such row gets nothing: no identity on the internal listener, no place in placement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dba_cannot_approve_enable_or_rekey_a_worker() {
    for db in databases() {
        let e = env(db).await;
        let pool = raw_pool(&e.url).await;
        let sql = |q: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query(q).execute(&pool).await.unwrap() }
        };
        let known = |fp: Option<String>| {
            let store = e.store.clone();
            async move {
                store
                    .worker_by_fingerprint(fp.as_deref().unwrap())
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        let pending = e
            .control
            .enrol_worker(&e.act(&admin()), "w-pending", &csr("w-pending"), 4, ORIGIN)
            .await
            .unwrap()
            .worker;
        sql("UPDATE workers SET approved_at = enrolled_at, approved_by = 'admin2' WHERE id = 'w-pending'").await;
        assert!(!known(pending.fingerprint.clone()).await, "{db:?}");

        e.control
            .enrol_worker(&e.act(&admin()), "w-own", &csr("w-own"), 4, ORIGIN)
            .await
            .unwrap();
        sql("UPDATE workers SET enrolled_by = 'admin2' WHERE id = 'w-own'").await;
        let err = e
            .control
            .approve_worker(&e.act(&admin()), "w-own", ORIGIN)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("changed outside mandat"), "{err}");

        // Disabled, then put back by SQL: first the flag alone, then the whole row as it was
        // before the disabling, MAC included (a restore from a backup).
        let off = enrol(&e, "w-off").await;
        assert!(known(off.fingerprint.clone()).await);
        let before: (i64, String) = {
            let r = sqlx::query("SELECT enabled, mac FROM workers WHERE id = 'w-off'")
                .fetch_one(&pool)
                .await
                .unwrap();
            (r.get("enabled"), r.get("mac"))
        };
        e.control
            .disable_worker(&e.act(&admin()), "w-off", ORIGIN)
            .await
            .unwrap();
        sql("UPDATE workers SET enabled = 1, disabled_at = NULL WHERE id = 'w-off'").await;
        assert!(!known(off.fingerprint.clone()).await, "{db:?}");
        sqlx::query(
            "UPDATE workers SET enabled = $1, disabled_at = NULL, mac = $2 WHERE id = 'w-off'",
        )
        .bind(before.0)
        .bind(before.1)
        .execute(&pool)
        .await
        .unwrap();
        assert!(
            !known(off.fingerprint.clone()).await,
            "{db:?}: a restored row served again"
        );

        // A trigger approves every worker as it is enrolled: mandat seals what it meant to write,
        // not what the row holds afterwards.
        if e.url.starts_with("postgres") {
            sql("CREATE FUNCTION approve_all() RETURNS trigger AS $$ BEGIN NEW.approved_at := NEW.enrolled_at; NEW.approved_by := 'admin2'; RETURN NEW; END $$ LANGUAGE plpgsql").await;
            sql("CREATE TRIGGER approve_all BEFORE INSERT OR UPDATE ON workers FOR EACH ROW EXECUTE FUNCTION approve_all()").await;
        } else {
            sql("CREATE TRIGGER approve_all AFTER INSERT ON workers BEGIN UPDATE workers SET approved_at = NEW.enrolled_at, approved_by = 'admin2' WHERE id = NEW.id; END").await;
        }
        let trig = e
            .control
            .enrol_worker(&e.act(&admin()), "w-trig", &csr("w-trig"), 4, ORIGIN)
            .await
            .unwrap()
            .worker;
        if e.url.starts_with("postgres") {
            sql("DROP TRIGGER approve_all ON workers").await;
        } else {
            sql("DROP TRIGGER approve_all").await;
        }
        let approved: Option<i64> =
            sqlx::query("SELECT approved_at FROM workers WHERE id = 'w-trig'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .get("approved_at");
        assert!(approved.is_some(), "{db:?}: the trigger did not fire");
        assert!(
            !known(trig.fingerprint.clone()).await,
            "{db:?}: a trigger's approval was sealed"
        );

        let good = enrol(&e, "w-good").await;
        assert!(known(good.fingerprint.clone()).await);
        // A MAC is bound to its row's id: the same row under another id opens nothing.
        sql("UPDATE workers SET id = 'w-renamed' WHERE id = 'w-good'").await;
        assert!(!known(good.fingerprint.clone()).await, "{db:?}");
        sql("UPDATE workers SET id = 'w-good' WHERE id = 'w-renamed'").await;
        assert!(known(good.fingerprint.clone()).await);
        // Copied onto another row, it opens nothing either.
        sql("UPDATE workers SET mac = (SELECT w.mac FROM workers w WHERE w.id = 'w-good') WHERE id = 'w-pending'").await;
        assert!(!known(pending.fingerprint.clone()).await, "{db:?}");
        // The good worker's certificate swapped for the DBA's own: neither opens.
        let rogue_fp = "ab".repeat(32);
        sqlx::query("UPDATE workers SET fingerprint = $1 WHERE id = 'w-good'")
            .bind(rogue_fp.clone())
            .execute(&pool)
            .await
            .unwrap();
        assert!(!known(Some(rogue_fp)).await, "{db:?}");
        assert!(!known(good.fingerprint.clone()).await, "{db:?}");
        // Placement sees none of the edited rows.
        let ids: Vec<String> = e
            .store
            .workers()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert!(ids.is_empty(), "{db:?}: {ids:?}");
    }
}
