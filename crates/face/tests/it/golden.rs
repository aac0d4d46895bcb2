//! The golden test: our pipeline against the reference outputs in `shared/golden/golden.json`.
//! Same faces, landmarks within 1.5 px, embeddings at cosine >= 0.99 to the reference.
//!
//! Needs the models (`mandat models fetch`) and the test data; it fails, never skips, without them.

use std::path::PathBuf;

use mandat_face::{BBox, DetectorConfig, InferenceConfig, Pipeline, Runtime, read_image};
use mandat_models::{ModelId, Store};
use serde_json::Value;

fn shared() -> PathBuf {
    match std::env::var_os("MANDAT_DATA") {
        Some(d) => PathBuf::from(d).join(".."),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

fn pipeline() -> Pipeline {
    let store = Store::from_env().unwrap();
    let verify = |id| {
        store.verify(id).unwrap_or_else(|e| {
            panic!("{e}\n(run the README's test command, which fetches models)")
        })
    };
    let rt = Runtime::load(&verify(ModelId::OnnxRuntime)).unwrap();
    Pipeline::new(
        &rt,
        &verify(ModelId::Yunet),
        &verify(ModelId::Sface),
        DetectorConfig::default(),
        InferenceConfig::default(),
    )
    .unwrap()
}

fn bbox(v: &Value) -> BBox {
    let f = |i: usize| v[i].as_f64().unwrap() as f32;
    BBox {
        x1: f(0),
        y1: f(1),
        x2: f(2),
        y2: f(3),
    }
}

#[test]
fn matches_the_reference_pipeline() {
    let root = shared();
    let golden_path = root.join("golden/golden.json");
    let text = std::fs::read_to_string(&golden_path)
        .unwrap_or_else(|e| panic!("{}: {e}; set MANDAT_DATA", golden_path.display()));
    let golden: Value = serde_json::from_str(&text).unwrap();
    let mut pipe = pipeline();
    let results = golden["results"].as_array().unwrap();
    assert_eq!(results.len(), 19);
    let (mut faces_checked, mut worst_lm, mut worst_cos) = (0, 0.0f32, 1.0f32);
    for r in results {
        let name = r["image"].as_str().unwrap();
        let path = if name.ends_with(".png") {
            root.join("golden").join(name)
        } else {
            let person = name.rsplit_once('_').unwrap().0;
            root.join("data/lfw/lfw-deepfunneled")
                .join(person)
                .join(name)
        };
        let img = read_image(&path).unwrap();
        assert_eq!(img.width as u64, r["width"].as_u64().unwrap(), "{name}");
        let ours = pipe.analyze(&img).unwrap();
        let refs = r["faces"].as_array().unwrap();
        assert_eq!(ours.len(), refs.len(), "{name}: face count");
        for rf in refs {
            let rb = bbox(&rf["box"]);
            let (best, iou) = ours
                .iter()
                .map(|f| {
                    let b = BBox {
                        x1: f.bbox[0],
                        y1: f.bbox[1],
                        x2: f.bbox[2],
                        y2: f.bbox[3],
                    };
                    (f, b.iou(&rb))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(
                iou > 0.9,
                "{name}: no face matches reference box {rb:?} (best IoU {iou})"
            );
            for (i, p) in rf["landmarks"].as_array().unwrap().iter().enumerate() {
                let (x, y) = (p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32);
                let d = ((best.landmarks[i][0] - x).powi(2) + (best.landmarks[i][1] - y).powi(2))
                    .sqrt();
                worst_lm = worst_lm.max(d);
                assert!(d <= 1.5, "{name}: landmark {i} is {d:.2} px off");
            }
            let reference: Vec<f32> = rf["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let cos = mandat_face::vector::cosine(best.embedding.as_slice(), &reference);
            worst_cos = worst_cos.min(cos);
            assert!(
                cos >= 0.99,
                "{name}: embedding cosine {cos:.4} to the reference"
            );
            faces_checked += 1;
        }
    }
    eprintln!(
        "golden: {faces_checked} faces, worst landmark {worst_lm:.2} px, worst cosine {worst_cos:.4}"
    );
    assert_eq!(faces_checked, 42);
}
