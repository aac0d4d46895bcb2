//! Fuzz decode + detect + embed: arbitrary bytes must give an image or an error, and any image must go
//! through the pipeline without a panic. Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run decode_detect` (needs
//! `mandat models fetch` first).
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use mandat_face::{DecodeLimits, DetectorConfig, InferenceConfig, Pipeline, Runtime, decode};
use mandat_models::{ModelId, Store};

fn pipeline() -> &'static Mutex<Pipeline> {
    static P: OnceLock<Mutex<Pipeline>> = OnceLock::new();
    P.get_or_init(|| {
        let store = Store::from_env().expect("cache dir");
        let path = |id| store.verify(id).expect("run `mandat models fetch` first");
        let rt = Runtime::load(&path(ModelId::OnnxRuntime)).expect("runtime");
        Mutex::new(
            Pipeline::new(
                &rt,
                &path(ModelId::Yunet),
                &path(ModelId::Sface),
                DetectorConfig::default(),
                InferenceConfig::default(),
            )
            .expect("pipeline"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the limit logic itself is what is being exercised.
    let limits = DecodeLimits {
        max_width: 2048,
        max_height: 2048,
        max_pixels: 1 << 20,
    };
    if let Ok(img) = decode(data, limits) {
        assert!(img.width > 0 && img.height > 0);
        assert_eq!(img.data.len(), img.width * img.height * 3);
        let faces = pipeline().lock().unwrap().analyze(&img).expect("inference on a valid image");
        for f in faces {
            assert!(f.score >= 0.5 && f.score <= 1.0);
            assert!(f.embedding.as_slice().iter().all(|v| v.is_finite()));
        }
    }
});
