//! Evidence packages: exported by the permit's team for verified alerts only, signed with the
//! audit key, checked offline; one edited byte fails the check.

use mandat_control::evidence;
use mandat_law::review::Verdict;
use mandat_law::{Actor, Role};
use mandat_testkit::{ORIGIN, databases};
use sha2::Digest;

use crate::common::*;

#[tokio::test]
async fn an_exported_package_verifies_and_an_edited_byte_fails() {
    for db in databases() {
        let e = env(db).await;
        e.provision("rev2", &[Role::Reviewer]).await;
        let id = granted(&e).await;
        e.control
            .raise_alert(hit(&e, "A-1", &id).await)
            .await
            .unwrap();
        // Not before two reviewers verified it, and never by a role that sees no images.
        let err = e
            .control
            .export_evidence(&e.act(&officer()), "A-1", ORIGIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_verified", "{db:?}");
        for (who, v) in [
            (reviewer(), Verdict::Confirm),
            (Actor::new("rev2", &[Role::Reviewer]), Verdict::Confirm),
        ] {
            e.control
                .review(&e.act(&who), "A-1", v, "", ORIGIN)
                .await
                .unwrap();
        }
        for who in [admin(), auditor()] {
            assert!(
                e.control
                    .export_evidence(&e.act(&who), "A-1", ORIGIN)
                    .await
                    .is_err(),
                "{who:?}"
            );
        }
        let package = e
            .control
            .export_evidence(&e.act(&officer()), "A-1", ORIGIN)
            .await
            .unwrap();
        let key = e.store.audit_public_key();
        let text = serde_json::to_string_pretty(&package).unwrap();
        let v = evidence::verify(&text, &key).unwrap();
        assert_eq!(v.alert, "A-1");
        assert_eq!(v.reviewers, ["rev", "rev2"]);
        assert!(v.audit_entries >= 3, "candidate and two reviews");
        assert_eq!(
            package
                .models
                .iter()
                .map(|m| m.model.as_str())
                .collect::<Vec<_>>(),
            ["yunet-2023mar", "sface-2021dec"]
        );
        // The embedder is the one the permit was drafted and matched under, by hash.
        assert_eq!(
            package.models[1].sha256,
            e.store
                .permit(&package.alert.permit)
                .await
                .unwrap()
                .application
                .embedder
                .unwrap()
                .sha256
        );
        // Every single edited byte of the package is caught.
        let bytes = text.as_bytes();
        let mut caught = 0;
        let step = (bytes.len() / 97).max(1);
        for i in (0..bytes.len()).step_by(step) {
            let mut edited = bytes.to_vec();
            edited[i] = if edited[i] == b'1' { b'2' } else { b'1' };
            let Ok(t) = String::from_utf8(edited) else {
                continue;
            };
            if t == text {
                continue;
            }
            assert!(
                evidence::verify(&t, &key).is_err(),
                "{db:?}: byte {i} edited: {}",
                &t[i.saturating_sub(40)..(i + 40).min(t.len())]
            );
            caught += 1;
        }
        assert!(caught > 50);
        // Another key pinned: refused.
        let other = mandat_audit::AuditKey::from_bytes([1; 32]).public_hex();
        assert!(evidence::verify(&text, &other).is_err());
        // The export is recorded; the images stay until the package's receipt is confirmed, so a
        // package lost on its way costs no evidence.
        let (entries, _) = e.store.audit_log().await.unwrap();
        assert!(
            entries
                .iter()
                .any(|x| x.action == "alert.export" && x.actor == "officer")
        );
        e.control.tick(ORIGIN).await.unwrap();
        assert!(e.store.alert_media("A-1").await.is_ok(), "{db:?}: kept");
        let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        assert!(
            e.control
                .confirm_export(&e.act(&officer()), "A-1", "not a digest", ORIGIN)
                .await
                .is_err()
        );
        e.control
            .confirm_export(&e.act(&officer()), "A-1", &digest, ORIGIN)
            .await
            .unwrap();
        let (entries, _) = e.store.audit_log().await.unwrap();
        let receipt = entries
            .iter()
            .find(|x| x.action == "alert.export_received")
            .unwrap();
        assert_eq!(receipt.details["package_sha256"], digest.as_str());
        assert!(
            entries
                .iter()
                .any(|x| x.action == "retention.erase"
                    && x.details["rule"] == "verified-alert-media"),
            "{db:?}"
        );
        assert!(e.store.alert_media("A-1").await.is_err());
    }
}
