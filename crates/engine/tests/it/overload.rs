//! Ten live cameras on this 2-core machine: the engine falls behind, drops frames on purpose and
//! counts them, serves every camera, and its memory does not grow. It runs in a child process of
//! its own, so the memory of the tests running beside it in this binary is not counted.

use std::time::Duration;

use crate::common::*;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const CHILD: &str = "MANDAT_OVERLOAD_CHILD";

#[test]
fn ten_live_cameras_drop_frames_on_purpose_and_memory_stays_bounded() {
    if std::env::var_os(CHILD).is_none() {
        // RSS is per process: run this test alone in a child, and judge it by the child's result.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "overload::ten_live_cameras_drop_frames_on_purpose_and_memory_stays_bounded",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the overload test failed in its process: {status}"
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    let ids: Vec<String> = (0..10).map(|i| format!("load-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    rt.block_on(async {
        let admin = mandat_law::Actor::new("admin", &[mandat_law::Role::Admin]);
        for id in &ids {
            w.control
                .add_camera(
                    &w.act(&admin),
                    &mandat_store::Camera {
                        id: id.clone(),
                        name: id.clone(),
                        location: None,
                        owner: "municipality:Test".into(),
                        enabled: true,
                        agreement: Some(mandat_testkit::agreement()),
                    },
                    "rtsp://127.0.0.1/test",
                    ORIGIN,
                )
                .await
                .unwrap();
        }
        granted(&w, &refs, t0()).await;
    });
    let cams = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            live(
                id,
                if i % 2 == 0 {
                    "synthetic/synthetic_watchlist.mp4"
                } else {
                    "video/street_1080p.mp4"
                },
            )
        })
        .collect();
    let (engine, _sink) = start(&w, &rt, cams, 2);
    // Growth is judged after a warm-up (decoders, model sessions, first tracks). With glibc's
    // default, arenas crept up for ~30 s (909 -> 1023 MiB); with the engine's fixed mmap threshold
    // RSS stays within 844-873 MiB over 48 s.
    let secs: u64 = std::env::var("MANDAT_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    std::thread::sleep(Duration::from_secs(10));
    let mut samples = Vec::new();
    for _ in 0..secs.saturating_sub(10) / 2 {
        std::thread::sleep(Duration::from_secs(2));
        samples.push(rss_kib());
    }
    eprintln!(
        "RSS samples (MiB): {:?}",
        samples.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    let mean = |s: &[u64]| s.iter().sum::<u64>() / s.len().max(1) as u64;
    let k = samples.len() / 3;
    let (rss_early, rss_late) = (mean(&samples[..k]), mean(&samples[samples.len() - k..]));
    let health = engine.health();
    engine.stop();
    let dropped: u64 = health.iter().map(|h| h.frames_dropped).sum();
    let processed: u64 = health.iter().map(|h| h.frames_processed).sum();
    let input: u64 = health.iter().map(|h| h.frames_in).sum();
    eprintln!(
        "10 cameras, {secs} s: {input} frames in, {processed} analysed, {dropped} dropped; RSS {} -> {} MiB",
        rss_early / 1024,
        rss_late / 1024
    );
    assert!(
        dropped > 0,
        "the machine cannot keep up with 10 cameras; frames must be dropped"
    );
    // Stalled: not even a second of video in, or far behind the others. Not a rate: how many
    // frames a camera reads depends on the machine's load (one read 97 of a mean of 200 on a
    // loaded 2-core machine).
    let mean_in = input / health.len().max(1) as u64;
    for h in &health {
        assert!(h.frames_processed > 0, "{} was starved", h.camera);
        assert!(
            h.frames_in > 25 && h.frames_in * 4 > mean_in,
            "{} stalled: {} frames in, the cameras' mean {mean_in}",
            h.camera,
            h.frames_in
        );
    }
    assert!(
        rss_late < rss_early + 48 * 1024,
        // Unbounded growth, as with glibc's default arenas, was ~7 MiB/s: ~60 MiB over this window.
        "memory grew from {rss_early} KiB to {rss_late} KiB"
    );
}
