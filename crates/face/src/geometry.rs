//! Boxes, IoU, non-maximum suppression and the letterbox mapping. Pure maths, no I/O.

use serde::{Deserialize, Serialize};

/// An axis-aligned box, `[x1, y1, x2, y2]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) * 0.5, (self.y1 + self.y2) * 0.5)
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    pub fn to_array(self) -> [f32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// Greedy non-maximum suppression. Returns indices into `scores`, best first. Ties keep input order,
/// so the result is deterministic.
pub fn nms(boxes: &[BBox], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    debug_assert_eq!(boxes.len(), scores.len());
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep
            .iter()
            .all(|&k| boxes[k].iou(&boxes[i]) <= iou_threshold)
        {
            keep.push(i);
        }
    }
    keep
}

/// How an image is placed into the detector's input: scaled by `scale`, pasted at the top-left, padded
/// with zeros up to `input_w` x `input_h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub input_w: usize,
    pub input_h: usize,
    pub resized_w: usize,
    pub resized_h: usize,
}

impl Letterbox {
    /// Fit `w` x `h` into a fixed `size` x `size` square, as the reference pipeline does.
    pub fn square(w: usize, h: usize, size: usize) -> Self {
        let scale = (size as f32 / w as f32).min(size as f32 / h as f32);
        Self::with_scale(w, h, scale, size, size)
    }

    /// Run at the image's own resolution, scaled down only so the longer side is at most `max_side`,
    /// padded up to a multiple of 32 (the detector's largest stride).
    pub fn native(w: usize, h: usize, max_side: usize) -> Self {
        let longest = w.max(h) as f32;
        let scale = if longest > max_side as f32 {
            max_side as f32 / longest
        } else {
            1.0
        };
        let rw = ((w as f32 * scale).round() as usize).max(1);
        let rh = ((h as f32 * scale).round() as usize).max(1);
        Self::with_scale(w, h, scale, rw.div_ceil(32) * 32, rh.div_ceil(32) * 32)
    }

    fn with_scale(w: usize, h: usize, scale: f32, input_w: usize, input_h: usize) -> Self {
        let resized_w = ((w as f32 * scale).round() as usize).clamp(1, input_w);
        let resized_h = ((h as f32 * scale).round() as usize).clamp(1, input_h);
        Self {
            scale,
            input_w,
            input_h,
            resized_w,
            resized_h,
        }
    }

    /// Map a point in detector input pixels back to original image pixels.
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        (x / self.scale, y / self.scale)
    }

    /// Map a point in original image pixels into detector input pixels.
    pub fn to_input(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale, y * self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = b(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&b(20.0, 20.0, 30.0, 30.0)), 0.0);
        // Half overlap: intersection 50, union 150.
        assert!((a.iou(&b(5.0, 0.0, 15.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
        // Degenerate boxes never divide by zero.
        assert_eq!(b(1.0, 1.0, 1.0, 1.0).iou(&b(1.0, 1.0, 1.0, 1.0)), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_each_cluster() {
        let boxes = [
            b(0.0, 0.0, 10.0, 10.0),
            b(1.0, 1.0, 11.0, 11.0),   // overlaps the first heavily
            b(50.0, 50.0, 60.0, 60.0), // separate
            b(0.0, 6.0, 10.0, 16.0),   // IoU 45/155 = 0.29 with box 1: kept at 0.3
        ];
        let scores = [0.8, 0.9, 0.7, 0.6];
        assert_eq!(nms(&boxes, &scores, 0.3), vec![1, 2, 3]);
        // A stricter threshold drops the last one too.
        assert_eq!(nms(&boxes, &scores, 0.2), vec![1, 2]);
        assert!(nms(&[], &[], 0.3).is_empty());
    }

    #[test]
    fn nms_is_deterministic_on_ties() {
        let boxes = [b(0.0, 0.0, 10.0, 10.0), b(0.0, 0.0, 10.0, 10.0)];
        assert_eq!(nms(&boxes, &[0.5, 0.5], 0.3), vec![0]);
    }

    #[test]
    fn letterbox_square_and_inverse() {
        let lb = Letterbox::square(1920, 1080, 640);
        assert!((lb.scale - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!((lb.resized_w, lb.resized_h), (640, 360));
        assert_eq!((lb.input_w, lb.input_h), (640, 640));
        let (x, y) = lb.to_input(960.0, 540.0);
        let (bx, by) = lb.to_image(x, y);
        assert!((bx - 960.0).abs() < 1e-3 && (by - 540.0).abs() < 1e-3);

        let up = Letterbox::square(250, 250, 640);
        assert!((up.scale - 2.56).abs() < 1e-6);
        assert_eq!((up.resized_w, up.resized_h), (640, 640));
        assert_eq!(up.to_image(320.0, 128.0), (125.0, 50.0));
    }

    #[test]
    fn letterbox_native_pads_to_stride() {
        let lb = Letterbox::native(1920, 1080, 4096);
        assert_eq!(lb.scale, 1.0);
        assert_eq!((lb.input_w, lb.input_h), (1920, 1088));
        assert_eq!((lb.resized_w, lb.resized_h), (1920, 1080));
        let capped = Letterbox::native(3840, 2160, 1920);
        assert_eq!((capped.input_w, capped.input_h), (1920, 1088));
        assert_eq!(capped.to_image(10.0, 10.0), (20.0, 20.0));
        let tiny = Letterbox::native(1, 1, 1920);
        assert_eq!((tiny.input_w, tiny.input_h), (32, 32));
    }
}
