//! YuNet 2023mar: letterbox, inference, decode, NMS.

use std::path::Path;
use std::time::Duration;

use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::FaceError;
use crate::geometry::{BBox, Letterbox, nms};
use crate::image::{RgbImage, resize_into_planar, zero_padding};
use crate::runtime::{InferenceConfig, Runtime, thread_cpu_time};

/// At which size the detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectSize {
    /// Letterbox into a `n` x `n` square: the reference pipeline (`n` = 640). Fast, but a 1080p frame is
    /// shrunk 3x and faces under ~60 px are lost.
    Square(usize),
    /// Run at the image's own size padded to a multiple of 32, shrunk only if the longer side exceeds
    /// `max_side`. Finds small faces in camera frames, at about 5x the cost of 640 for 1080p.
    Native { max_side: usize },
}

impl Default for DetectSize {
    fn default() -> Self {
        DetectSize::Square(640)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    pub size: DetectSize,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Candidates kept before NMS, best first, so NMS stays bounded on pathological inputs.
    pub top_k: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            size: DetectSize::default(),
            score_threshold: 0.5,
            nms_iou: 0.3,
            top_k: 5000,
        }
    }
}

/// One detected face, in original image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    /// Eye on the image left, eye on the image right, nose tip, mouth corner left, mouth corner right.
    pub landmarks: [[f32; 2]; 5],
}

/// Where the last call's CPU time went (this thread's, see [`thread_cpu_time`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DetectTiming {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

pub struct Detector {
    session: Session,
    cfg: DetectorConfig,
    input: Vec<f32>,
    pub last_timing: DetectTiming,
}

const STRIDES: [usize; 3] = [8, 16, 32];

impl Detector {
    pub fn new(
        rt: &Runtime,
        model: &Path,
        cfg: DetectorConfig,
        inf: InferenceConfig,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            session: rt.session(model, inf)?,
            cfg,
            input: Vec::new(),
            last_timing: DetectTiming::default(),
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    pub fn letterbox_for(&self, img: &RgbImage) -> Letterbox {
        match self.cfg.size {
            DetectSize::Square(n) => Letterbox::square(img.width, img.height, n),
            DetectSize::Native { max_side } => Letterbox::native(img.width, img.height, max_side),
        }
    }

    /// Detect faces. Returns them best score first.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        let t0 = thread_cpu_time();
        let lb = self.letterbox_for(img);
        let (w, h) = (lb.input_w, lb.input_h);
        // Reuse the buffer: only the padding needs clearing, the rest is overwritten.
        self.input.resize(3 * w * h, 0.0);
        zero_padding(&mut self.input, lb.resized_w, lb.resized_h, w, h);
        resize_into_planar(img, lb.resized_w, lb.resized_h, &mut self.input, w, h, true);
        let t1 = thread_cpu_time();

        let outputs = self
            .session
            .run(ort::inputs![
                "input" => TensorRef::from_array_view(([1usize, 3, h, w], self.input.as_slice()))
                    .map_err(|e| FaceError::Runtime(e.to_string()))?
            ])
            .map_err(|e| FaceError::Runtime(format!("detector: {e}")))?;
        let t2 = thread_cpu_time();

        let mut boxes = Vec::new();
        let mut scores = Vec::new();
        let mut marks = Vec::new();
        for s in STRIDES {
            let get = |name: String| -> Result<&[f32], FaceError> {
                let v = outputs
                    .get(&name)
                    .ok_or_else(|| FaceError::Runtime(format!("detector output {name} missing")))?;
                v.try_extract_tensor::<f32>()
                    .map(|(_, d)| d)
                    .map_err(|e| FaceError::Runtime(format!("detector output {name}: {e}")))
            };
            let cls = get(format!("cls_{s}"))?;
            let obj = get(format!("obj_{s}"))?;
            let bbox = get(format!("bbox_{s}"))?;
            let kps = get(format!("kps_{s}"))?;
            let cols = w / s;
            let cells = cols * (h / s);
            if cls.len() < cells
                || obj.len() < cells
                || bbox.len() < cells * 4
                || kps.len() < cells * 10
            {
                return Err(FaceError::Runtime(format!(
                    "detector output for stride {s} is shorter than its {cells} cells"
                )));
            }
            let sf = s as f32;
            for i in 0..cells {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score.is_nan() || score < self.cfg.score_threshold {
                    continue;
                }
                let (r, c) = ((i / cols) as f32, (i % cols) as f32);
                let b = &bbox[i * 4..i * 4 + 4];
                let cx = (c + b[0]) * sf;
                let cy = (r + b[1]) * sf;
                let bw = b[2].exp() * sf;
                let bh = b[3].exp() * sf;
                if !(cx.is_finite() && cy.is_finite() && bw.is_finite() && bh.is_finite()) {
                    continue;
                }
                let k = &kps[i * 10..i * 10 + 10];
                let mut lm = [[0.0f32; 2]; 5];
                for (j, p) in lm.iter_mut().enumerate() {
                    *p = [(k[2 * j] + c) * sf, (k[2 * j + 1] + r) * sf];
                }
                boxes.push(BBox {
                    x1: cx - bw / 2.0,
                    y1: cy - bh / 2.0,
                    x2: cx + bw / 2.0,
                    y2: cy + bh / 2.0,
                });
                scores.push(score);
                marks.push(lm);
            }
        }
        drop(outputs);

        if boxes.len() > self.cfg.top_k {
            let mut idx: Vec<usize> = (0..boxes.len()).collect();
            idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            idx.truncate(self.cfg.top_k);
            boxes = idx.iter().map(|&i| boxes[i]).collect();
            marks = idx.iter().map(|&i| marks[i]).collect();
            scores = idx.iter().map(|&i| scores[i]).collect();
        }
        let keep = nms(&boxes, &scores, self.cfg.nms_iou);
        let inv = |x: f32, y: f32| lb.to_image(x, y);
        let dets = keep
            .into_iter()
            .map(|i| {
                let b = boxes[i];
                let (x1, y1) = inv(b.x1, b.y1);
                let (x2, y2) = inv(b.x2, b.y2);
                Detection {
                    bbox: BBox { x1, y1, x2, y2 },
                    score: scores[i],
                    landmarks: marks[i].map(|p| {
                        let (x, y) = inv(p[0], p[1]);
                        [x, y]
                    }),
                }
            })
            .collect();
        let t3 = thread_cpu_time();
        self.last_timing = DetectTiming {
            preprocess: t1.saturating_sub(t0),
            inference: t2.saturating_sub(t1),
            postprocess: t3.saturating_sub(t2),
        };
        Ok(dets)
    }
}
