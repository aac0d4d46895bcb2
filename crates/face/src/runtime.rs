//! ONNX Runtime: loaded once per process from the verified shared library, never downloaded.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::FaceError;

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Inference settings shared by the detector and the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceConfig {
    /// Intra-op threads per session. 1 suits many parallel workers; more suits one large frame.
    pub threads: usize,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self { threads: 1 }
    }
}

/// A loaded ONNX Runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
    _lib: Arc<str>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runtime({})", self._lib)
    }
}

impl Runtime {
    /// Load ONNX Runtime from `lib` (a path already checked by `mandat_models::Store::verify`). The first
    /// call in a process decides the library; later calls reuse it.
    pub fn load(lib: &Path) -> Result<Self, FaceError> {
        let env = ENV.get_or_init(|| {
            let builder = ort::init_from(lib)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?;
            builder
                .with_name("mandat")
                // No telemetry, ever.
                .with_telemetry(false)
                .with_logger(Arc::new(|level, _cat, _id, _loc, msg| {
                    if matches!(level, LogLevel::Error | LogLevel::Fatal) {
                        tracing::error!(target: "onnxruntime", "{msg}");
                    } else if matches!(level, LogLevel::Warning) {
                        tracing::debug!(target: "onnxruntime", "{msg}");
                    }
                }))
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        });
        match env {
            Ok(env) => Ok(Self {
                env: env.clone(),
                _lib: Arc::from(lib.display().to_string()),
            }),
            Err(msg) => Err(FaceError::Runtime(msg.clone())),
        }
    }

    pub(crate) fn session(&self, model: &Path, cfg: InferenceConfig) -> Result<Session, FaceError> {
        let err = |e: String| FaceError::Runtime(format!("{}: {e}", model.display()));
        Session::builder(&self.env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(cfg.threads.max(1))
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?
            // Spinning burns a core between runs; with a frame budget we would rather share it.
            .with_intra_op_spinning(false)
            .map_err(|e| err(e.to_string()))?
            .commit_from_file(model)
            .map_err(|e| err(e.to_string()))
    }
}

/// Time `iters` runs of a model on one fixed input with nothing of ours around it: the baseline that
/// `mandat bench` compares the pipeline's stages against.
pub fn plain_inference_time(
    rt: &Runtime,
    model: &Path,
    cfg: InferenceConfig,
    input_name: &str,
    shape: [usize; 4],
    data: &[f32],
    iters: usize,
) -> Result<std::time::Duration, FaceError> {
    let mut session = rt.session(model, cfg)?;
    let run = |session: &mut Session| {
        let tensor = ort::value::TensorRef::from_array_view((shape, data))
            .map_err(|e| FaceError::Runtime(e.to_string()))?;
        session
            .run(ort::inputs![input_name => tensor])
            .map(drop)
            .map_err(|e| FaceError::Runtime(e.to_string()))
    };
    run(&mut session)?; // warm-up
    let t = std::time::Instant::now();
    for _ in 0..iters {
        run(&mut session)?;
    }
    Ok(t.elapsed() / iters.max(1) as u32)
}
