//! ONNX Runtime: loaded once per process from the verified shared library, never downloaded.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::FaceError;

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on this GPU. Needs the onnxruntime-gpu build loaded
    /// ([`Runtime::load`] of `ModelId::OnnxRuntimeGpu`); if the provider cannot be registered,
    /// creating a session fails. Never a silent fall-back to the CPU.
    Cuda(u32),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Inference settings shared by the detector and the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceConfig {
    /// Intra-op threads per session. 1 suits many parallel workers; more suits one large frame.
    pub threads: usize,
    pub device: Device,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            device: Device::Cpu,
        }
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
            // ONNX Runtime's Linux builds from 1.31 carry Microsoft's 1DS telemetry: it writes a
            // device id and an event queue under ~/.cache/Microsoft and uploads them to
            // mobile.events.data.microsoft.com. `with_telemetry(false)` below comes after the first
            // event; only this variable, set before the library is loaded, stops all of it.
            // `mandat` sets it at the start of `main`; this covers other users of the crate.
            if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none_or(|v| v != "1") {
                // SAFETY: set once, before ONNX Runtime is loaded, under the OnceLock; Rust's own
                // environment accesses are locked. A C library reading the environment on another
                // thread at this instant is the remaining risk, which `main` avoids by setting it
                // while single-threaded.
                unsafe { std::env::set_var("ORT_DISABLE_TELEMETRY", "1") };
            }
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
        let mut builder = Session::builder(&self.env).map_err(|e| err(e.to_string()))?;
        if let Device::Cuda(id) = cfg.device {
            // error_on_failure: ort's default is to log and carry on on the CPU.
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default()
                    .with_device_id(id as i32)
                    .build()
                    .error_on_failure()])
                .map_err(|e| FaceError::Gpu {
                    device: cfg.device.to_string(),
                    runtime: self._lib.to_string(),
                    message: e.to_string().trim_end().to_string(),
                })?;
        }
        builder
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

/// CPU time the calling thread has used. Stage timings use it rather than wall time, so a stage is
/// not charged for the time another thread held the core (a camera's decoder, say).
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; the thread CPU clock exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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
