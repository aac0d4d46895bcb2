//! A face that matches nobody leaves no trace. The street clip (people on no watchlist) is replayed
//! on a camera that an active permit covers, so every face is detected, tracked and embedded. Then
//! every byte mandat wrote (the database and its WAL, every file in its directory, every log line at
//! TRACE level) is searched for those faces' embeddings, in binary and as text, and for images.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use mandat_engine::{CameraSpec, SourceSpec};
use mandat_video::{FrameSource, Mp4Camera, Pace};

/// Every log line of the process, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn non_matching_faces_leave_no_trace() {
    let logs = Captured::default();
    let sink_logs = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink_logs.clone())
        .with_ansi(false)
        .init();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(fake_clock()));
    // A lawful permit for the ten synthetic watchlist persons, covering the street camera.
    rt.block_on(granted(&w, &["street"], t0()));
    let (engine, sink) = start(
        &w,
        &rt,
        vec![CameraSpec {
            id: "street".into(),
            source: SourceSpec::File {
                path: data().join("video/street_1080p.mp4"),
                pace: Pace::Fast,
                looping: false,
            },
        }],
        1,
    );
    assert!(engine.wait_done(Duration::from_secs(300)));
    let h = engine.health().remove(0);
    engine.stop();
    assert_eq!(h.frames_processed, 105, "every frame was analysed");
    assert!(
        h.faces_seen > 300,
        "the clip is full of faces: {}",
        h.faces_seen
    );
    assert!(
        sink.raised.lock().unwrap().is_empty(),
        "nobody in the clip is on the watchlist"
    );

    // The faces the engine saw, embedded again here, frame by frame.
    let mut pipe = pipeline(&w.models);
    let mut cam = Mp4Camera::open(
        &data().join("video/street_1080p.mp4"),
        Pace::Fast,
        false,
        mandat_video::DecoderChoice::Auto,
    )
    .unwrap();
    let mut needles: Vec<Vec<u8>> = Vec::new();
    let mut faces = 0;
    while let Some(f) = cam.next_frame().unwrap() {
        if f.index % 5 != 0 {
            continue;
        }
        for face in pipe.analyze(&f.image).unwrap() {
            faces += 1;
            let e = face.embedding.as_slice();
            // As f32 and f64, little and big endian, and as the text a JSON or log line would hold.
            needles.push(e[..4].iter().flat_map(|v| v.to_le_bytes()).collect());
            needles.push(e[..4].iter().flat_map(|v| v.to_be_bytes()).collect());
            needles.push(
                e[..2]
                    .iter()
                    .flat_map(|v| (*v as f64).to_le_bytes())
                    .collect(),
            );
            needles.push(format!("{:.6}", e[0]).into_bytes());
            needles.push(format!("{}", e[0]).into_bytes());
            // Raw pixels of the face's first row, as a crop or a frame dump would hold them.
            let (x1, y1) = (
                face.bbox[0].max(0.0) as usize,
                face.bbox[1].max(0.0) as usize,
            );
            let i = (y1 * f.image.width + x1) * 3;
            needles.push(f.image.data[i..i + 48].to_vec());
        }
    }
    assert!(faces > 50, "{faces}");

    // Everything written: the database directory and the logs.
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(w.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        written.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    written.push(("logs".into(), logs.0.lock().unwrap().clone()));
    assert!(written.iter().map(|(_, b)| b.len()).sum::<usize>() > 10_000);
    for (what, bytes) in &written {
        for n in &needles {
            // Short decimal texts can occur by chance in hashes and timestamps; only those of
            // six or more significant characters are searched.
            if n.len() >= 8 {
                assert!(
                    !contains(bytes, n),
                    "{what} holds data of a non-matching face"
                );
            }
        }
        // No image in the clear anywhere (reference photos are sealed).
        assert!(
            !contains(bytes, b"\xFF\xD8\xFF\xE0\x00\x10JFIF"),
            "{what} holds a JPEG"
        );
        assert!(!contains(bytes, b"\x89PNG\r\n\x1a\n"), "{what} holds a PNG");
    }
    // The database holds no alert, and its log names nothing but the lawful steps.
    assert!(rt.block_on(w.store.alerts(0, 10)).unwrap().is_empty());
    let (entries, _) = rt.block_on(w.store.audit_log()).unwrap();
    assert!(entries.iter().all(|e| !e.action.starts_with("alert.")));
}
