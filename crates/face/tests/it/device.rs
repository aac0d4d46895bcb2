//! A GPU that was asked for and cannot be used is an error, never a silent fall-back to the CPU
//! (issue 7; other systems' users keep hitting that fall-back, InsightFace #2344 and #1824).
//! Here the CPU build of ONNX Runtime is loaded, which has no CUDA provider: asking for CUDA must
//! fail when the session is made, with a message that says what to do.

use mandat_face::{DetectorConfig, Device, FaceError, InferenceConfig, Pipeline, Runtime};
use mandat_models::{ModelId, Store};

#[test]
fn asking_for_cuda_without_it_fails_loudly() {
    let store = Store::from_env().unwrap();
    let verify = |id| {
        store.verify(id).unwrap_or_else(|e| {
            panic!("{e}\n(run the README's test command, which fetches models)")
        })
    };
    let rt = Runtime::load(&verify(ModelId::OnnxRuntime)).unwrap();
    let (det, emb) = (verify(ModelId::Yunet), verify(ModelId::Sface));
    let cuda = InferenceConfig {
        threads: 1,
        device: Device::Cuda(0),
    };
    let err = match Pipeline::new(&rt, &det, &emb, DetectorConfig::default(), cuda) {
        Ok(_) => panic!("a CUDA session was made on a runtime without CUDA"),
        Err(e) => e,
    };
    assert!(matches!(err, FaceError::Gpu { .. }), "{err:?}");
    let msg = err.to_string();
    for part in [
        "--device cuda:0",
        "does not fall back to the CPU",
        "mandat models fetch --gpu",
        "--device cpu",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    // The same runtime still serves the CPU.
    Pipeline::new(
        &rt,
        &det,
        &emb,
        DetectorConfig::default(),
        InferenceConfig::default(),
    )
    .unwrap();
}
