//! The face pipeline: YuNet 2023mar detection, 5-landmark Umeyama alignment onto the ArcFace template,
//! SFace 2021dec embedding, cosine similarity, and a quality record per face.
//!
//! The maths ([`geometry`], [`align`], [`vector`], [`quality`]) is pure and unit-tested. The I/O edge is
//! ONNX Runtime ([`runtime`]), loaded from a verified library; models are loaded from paths that
//! `mandat-models` has checked. The pipeline follows `shared/golden/README.md`; see ARCHITECTURE.md.
//!
//! Embeddings and crops are biometric data: their `Debug` output is redacted and their buffers are wiped
//! when dropped.

pub mod align;
pub mod detector;
pub mod embedder;
pub mod geometry;
pub mod image;
pub mod quality;
pub mod runtime;
pub mod vector;

use std::path::Path;

use serde::Serialize;

pub use detector::{DetectSize, Detection, Detector, DetectorConfig};
pub use embedder::{AlignedFace, Embedder, align};
pub use geometry::BBox;
pub use image::{DecodeLimits, ImageError, RgbImage, decode};
pub use quality::{Quality, QualityGate};
pub use runtime::{Device, InferenceConfig, Runtime};
pub use vector::Embedding;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error(
        "--device {device} was asked for, but ONNX Runtime ({runtime}) cannot use that GPU: {message}. \
         mandat does not fall back to the CPU. Fetch the GPU runtime (`mandat models fetch --gpu`), \
         install the NVIDIA driver, CUDA 13 and cuDNN 9, or run with --device cpu"
    )]
    Gpu {
        device: String,
        runtime: String,
        message: String,
    },
    #[error("the landmarks are degenerate (all in one point); the face cannot be aligned")]
    DegenerateLandmarks,
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One face with everything the pipeline knows about it.
#[derive(Debug, Clone, Serialize)]
pub struct Face {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    pub quality: Quality,
    pub embedding: Embedding,
}

/// Detector and embedder together, for one worker thread.
pub struct Pipeline {
    pub detector: Detector,
    pub embedder: Embedder,
}

impl Pipeline {
    pub fn new(
        rt: &Runtime,
        detector_model: &Path,
        embedder_model: &Path,
        det: DetectorConfig,
        inf: InferenceConfig,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            detector: Detector::new(rt, detector_model, det, inf)?,
            embedder: Embedder::new(rt, embedder_model, inf)?,
        })
    }

    /// Detect, align, assess and embed every face in the image, best detector score first.
    pub fn analyze(&mut self, img: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let dets = self.detector.detect(img)?;
        self.embed_detections(img, &dets)
    }

    pub fn embed_detections(
        &mut self,
        img: &RgbImage,
        dets: &[Detection],
    ) -> Result<Vec<Face>, FaceError> {
        let mut aligned = Vec::with_capacity(dets.len());
        let mut kept = Vec::with_capacity(dets.len());
        for d in dets {
            // Degenerate landmarks cannot be aligned; such a face is skipped, never guessed.
            if let Ok(a) = align(img, &d.landmarks) {
                aligned.push(a);
                kept.push(*d);
            }
        }
        let refs: Vec<&AlignedFace> = aligned.iter().collect();
        let embs = self.embedder.embed(&refs)?;
        Ok(kept
            .iter()
            .zip(aligned.iter())
            .zip(embs)
            .map(|((d, a), e)| Face {
                bbox: d.bbox.to_array(),
                score: d.score,
                landmarks: d.landmarks,
                quality: quality::assess(d, a),
                embedding: e,
            })
            .collect())
    }
}

/// Why a reference photo cannot be enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(transparent)]
    Face(#[from] FaceError),
    #[error(
        "the photo shows {0} faces; a reference photo must show exactly one. Crop it to the designated person"
    )]
    FaceCount(usize),
    #[error("the photo is not good enough to enrol: {}. Use a sharper, frontal photo", .0.join("; "))]
    Quality(Vec<String>),
}

/// What the enrolment gate found in a reference photo: every face, best detector score first,
/// and the measures that failed. Shown to the applicant whether or not the photo is taken.
pub struct EnrolmentCheck {
    pub faces: Vec<Face>,
    /// The first face's failed measures (empty when there is not exactly one face).
    pub faults: Vec<quality::GateFault>,
}

impl EnrolmentCheck {
    /// The one face, if the photo passes: exactly one face, with no failed measure.
    pub fn passed(&self) -> Option<&Face> {
        (self.faces.len() == 1 && self.faults.is_empty()).then(|| &self.faces[0])
    }

    /// Why the photo is refused, as [`Pipeline::reference_template`] says it; `None` if it passes.
    pub fn refusal(&self) -> Option<EnrolError> {
        if self.faces.len() != 1 {
            Some(EnrolError::FaceCount(self.faces.len()))
        } else if !self.faults.is_empty() {
            Some(EnrolError::Quality(
                self.faults.iter().map(|f| f.to_string()).collect(),
            ))
        } else {
            None
        }
    }
}

impl Pipeline {
    /// The template of a reference photo, gated for enrolment: exactly one face, and that face passes
    /// `gate` (inter-eye distance, sharpness, pose, detector confidence).
    pub fn reference_template(
        &mut self,
        img: &RgbImage,
        gate: &QualityGate,
    ) -> Result<Face, EnrolError> {
        let mut check = self.enrolment_check(img, gate)?;
        match check.refusal() {
            Some(e) => Err(e),
            None => Ok(check.faces.remove(0)),
        }
    }

    /// Every face of a reference photo with what `gate` says of it: the verdict and its reasons.
    pub fn enrolment_check(
        &mut self,
        img: &RgbImage,
        gate: &QualityGate,
    ) -> Result<EnrolmentCheck, FaceError> {
        let faces = self.analyze(img)?;
        let faults = match faces.as_slice() {
            [one] => gate.faults(&one.quality),
            _ => Vec::new(),
        };
        Ok(EnrolmentCheck { faces, faults })
    }
}

/// Index of the detection whose box centre is nearest the image centre: the LFW convention.
pub fn nearest_to_center(dets: &[Detection], width: usize, height: usize) -> Option<usize> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    dets.iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| {
            let d = |d: &Detection| {
                let (x, y) = d.bbox.center();
                (x - cx).powi(2) + (y - cy).powi(2)
            };
            d(a).total_cmp(&d(b))
        })
        .map(|(i, _)| i)
}

/// Read and decode an image file with the default limits.
pub fn read_image(path: &Path) -> Result<RgbImage, FaceError> {
    let bytes = std::fs::read(path).map_err(|source| FaceError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(decode(&bytes, DecodeLimits::default())?)
}
