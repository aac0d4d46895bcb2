//! SFace 2021dec (fp32-folded): aligned 112x112 RGB crops in, L2-normalised 128-d embeddings out.

use std::path::Path;
use std::time::Duration;

use ort::session::Session;
use ort::value::TensorRef;

use crate::FaceError;
use crate::align::{ARCFACE_112, umeyama};
use crate::image::{RgbImage, warp_affine_planar};
use crate::runtime::{InferenceConfig, Runtime, thread_cpu_time};
use crate::vector::{EMBEDDING_DIM, Embedding};

pub const CROP: usize = 112;

/// A face warped onto the ArcFace template: planar RGB, raw 0..255, 112x112.
pub struct AlignedFace {
    pub pixels: Vec<f32>,
    /// The similarity that maps image pixels onto the crop.
    pub transform: [f32; 6],
}

impl std::fmt::Debug for AlignedFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedFace(112x112)")
    }
}

impl Drop for AlignedFace {
    // Crops of faces are biometric data: clear them before the memory is reused.
    fn drop(&mut self) {
        crate::vector::wipe_f32(&mut self.pixels);
    }
}

/// Warp the face given by its 5 landmarks onto the template.
pub fn align(img: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Result<AlignedFace, FaceError> {
    let transform = umeyama(landmarks, &ARCFACE_112).ok_or(FaceError::DegenerateLandmarks)?;
    let mut pixels = vec![0.0; 3 * CROP * CROP];
    warp_affine_planar(img, &transform, CROP, &mut pixels);
    Ok(AlignedFace { pixels, transform })
}

pub struct Embedder {
    session: Session,
    batch: Vec<f32>,
    pub last_inference: Duration,
}

impl Embedder {
    pub fn new(rt: &Runtime, model: &Path, inf: InferenceConfig) -> Result<Self, FaceError> {
        Ok(Self {
            session: rt.session(model, inf)?,
            batch: Vec::new(),
            last_inference: Duration::ZERO,
        })
    }

    /// Embed aligned faces in one batch.
    pub fn embed(&mut self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, FaceError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let n = faces.len();
        let per = 3 * CROP * CROP;
        self.batch.clear();
        self.batch.reserve(n * per);
        for f in faces {
            self.batch.extend_from_slice(&f.pixels);
        }
        let t0 = thread_cpu_time();
        let result = (|| {
            let outputs = self
                .session
                .run(ort::inputs![
                    "data" => TensorRef::from_array_view(([n, 3, CROP, CROP], self.batch.as_slice()))
                        .map_err(|e| FaceError::Runtime(e.to_string()))?
                ])
                .map_err(|e| FaceError::Runtime(format!("embedder: {e}")))?;
            let (_, data) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(|e| FaceError::Runtime(format!("embedder output: {e}")))?;
            if data.len() != n * EMBEDDING_DIM {
                return Err(FaceError::Runtime(format!(
                    "embedder returned {} values for {n} faces",
                    data.len()
                )));
            }
            Ok(data
                .chunks_exact(EMBEDDING_DIM)
                .map(Embedding::from_raw)
                .collect())
        })();
        self.last_inference = thread_cpu_time().saturating_sub(t0);
        crate::vector::wipe_f32(&mut self.batch);
        result
    }
}
