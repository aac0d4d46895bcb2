//! Images in memory: bounded decoding, bilinear resize into the detector tensor, affine warp for alignment.
//!
//! Kernels follow OpenCV's conventions (pixel centres at +0.5, no antialiasing when shrinking), the
//! convention of the reference pipeline in `shared/golden`.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader, Limits};

/// An 8-bit RGB image, rows packed, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    // Never print pixel data: images may be biometric data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self, ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::Empty);
        }
        if data.len() != width * height * 3 {
            return Err(ImageError::Corrupt(format!(
                "{}x{} RGB needs {} bytes, got {}",
                width,
                height,
                width * height * 3,
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Overwrite the pixels with zeros. Used before dropping frames that must leave no trace.
    pub fn wipe(&mut self) {
        // volatile writes so the compiler cannot elide the wipe of a buffer about to be freed
        for b in self.data.iter_mut() {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Decoding limits. Defaults allow up to 8K video frames and 64 megapixel photos.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_width: 16_384,
            max_height: 16_384,
            max_pixels: 64_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image is empty (zero bytes or zero pixels)")]
    Empty,
    #[error("not a supported image: {0}. mandat reads JPEG and PNG")]
    Format(String),
    #[error(
        "image is {width}x{height}, over the limit of {max_width}x{max_height} and {max_pixels} pixels; \
         scale it down before enrolment"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
        max_pixels: u64,
    },
    #[error("the image data is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Decode JPEG or PNG bytes into RGB, refusing huge images from their header before allocating.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Format(e.to_string()))?;
    match reader.format() {
        Some(image::ImageFormat::Jpeg | image::ImageFormat::Png) => {}
        Some(other) => return Err(ImageError::Format(format!("{other:?} is not supported"))),
        None => return Err(ImageError::Format("unrecognised file signature".into())),
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    let too_large = || ImageError::TooLarge {
        width,
        height,
        max_width: limits.max_width,
        max_height: limits.max_height,
        max_pixels: limits.max_pixels,
    };
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(too_large());
    }
    let mut lim = Limits::default();
    lim.max_image_width = Some(limits.max_width);
    lim.max_image_height = Some(limits.max_height);
    // RGBA16 worst case, plus decoder working memory.
    lim.max_alloc = Some(limits.max_pixels * 8 + (64 << 20));
    decoder
        .set_limits(lim)
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(),
        other => ImageError::Corrupt(other.to_string()),
    })?;
    let rgb = img.into_rgb8();
    RgbImage::new(width as usize, height as usize, rgb.into_raw())
}

/// OpenCV-style bilinear sampling weights along one axis for a resize from `src` to `dst` samples.
fn resize_taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let ratio = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
            let s = ((d as f32 + 0.5) * ratio - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

/// Resize `img` bilinearly to `rw` x `rh` and write it, top-left, into a planar f32 tensor of `tw` x `th`
/// (the rest stays as it is, normally zero). `bgr` chooses the channel order.
pub fn resize_into_planar(
    img: &RgbImage,
    rw: usize,
    rh: usize,
    tensor: &mut [f32],
    tw: usize,
    th: usize,
    bgr: bool,
) {
    debug_assert!(rw <= tw && rh <= th && tensor.len() == 3 * tw * th);
    let xs = resize_taps(img.width, rw);
    let ys = resize_taps(img.height, rh);
    let plane = tw * th;
    let (c0, c2) = if bgr { (2, 0) } else { (0, 2) };
    let stride = img.width * 3;
    for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
        let r0 = &img.data[y0 * stride..y0 * stride + stride];
        let r1 = &img.data[y1 * stride..y1 * stride + stride];
        let out = y * tw;
        for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
            let (a, b) = (x0 * 3, x1 * 3);
            for c in 0..3 {
                let top = r0[a + c] as f32 + (r0[b + c] as f32 - r0[a + c] as f32) * fx;
                let bot = r1[a + c] as f32 + (r1[b + c] as f32 - r1[a + c] as f32) * fx;
                let v = top + (bot - top) * fy;
                let ch = match c {
                    0 => c0,
                    1 => 1,
                    _ => c2,
                };
                tensor[ch * plane + out + x] = v;
            }
        }
    }
}

/// Warp `img` by the affine map `m` (output pixel -> source pixel is `m`'s inverse) into a planar RGB f32
/// tensor of `size` x `size`, bilinear, border 0. `m` maps source to destination: `[a, b, c, d, e, f]`
/// meaning `x' = a x + b y + c`, `y' = d x + e y + f`.
pub fn warp_affine_planar(img: &RgbImage, m: &[f32; 6], size: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), 3 * size * size);
    let [a, b, c, d, e, f] = m.map(f64::from);
    let det = a * e - b * d;
    let plane = size * size;
    if det.abs() < 1e-12 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    // Inverse of the 2x2 part and the translation.
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    let (ic, iff) = (-(ia * c + ib * f), -(id * c + ie * f));
    let (w, h) = (img.width as i64, img.height as i64);
    let px = |x: i64, y: i64, ch: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            img.data[((y * w + x) * 3) as usize + ch] as f32
        }
    };
    for oy in 0..size {
        for ox in 0..size {
            let sx = ia * ox as f64 + ib * oy as f64 + ic;
            let sy = id * ox as f64 + ie * oy as f64 + iff;
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
            for ch in 0..3 {
                let top = px(x0, y0, ch) * (1.0 - fx) + px(x0 + 1, y0, ch) * fx;
                let bot = px(x0, y0 + 1, ch) * (1.0 - fx) + px(x0 + 1, y0 + 1, ch) * fx;
                out[ch * plane + oy * size + ox] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> RgbImage {
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 10) as u8, (y * 10) as u8, 7]);
            }
        }
        RgbImage::new(w, h, data).unwrap()
    }

    #[test]
    fn resize_identity_and_channel_order() {
        let img = gradient(4, 3);
        let mut t = vec![-1.0; 3 * 5 * 4];
        resize_into_planar(&img, 4, 3, &mut t, 5, 4, true);
        // BGR planes: plane 0 is blue (constant 7), plane 2 is red (x * 10).
        assert_eq!(t[0], 7.0);
        assert_eq!(t[2 * 20 + 3], 30.0);
        assert_eq!(t[20 + 2 * 5], 20.0);
        // Padding untouched.
        assert_eq!(t[4], -1.0);
    }

    #[test]
    fn resize_halves_by_averaging_neighbours() {
        let img = gradient(4, 4);
        let mut t = vec![0.0; 3 * 2 * 2];
        resize_into_planar(&img, 2, 2, &mut t, 2, 2, false);
        // OpenCV samples at source 0.5 and 2.5: the mean of pixels (0,1) and (2,3).
        assert_eq!(&t[0..2], &[5.0, 25.0]);
    }

    #[test]
    fn warp_identity_and_translation() {
        let img = gradient(8, 8);
        let mut out = vec![0.0; 3 * 4 * 4];
        warp_affine_planar(&img, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 4, &mut out);
        assert_eq!(out[3], 30.0);
        // Shift left by 2: output x=0 reads source x=2.
        warp_affine_planar(&img, &[1.0, 0.0, -2.0, 0.0, 1.0, 0.0], 4, &mut out);
        assert_eq!(out[0], 20.0);
        // Outside the source is black.
        warp_affine_planar(&img, &[1.0, 0.0, 100.0, 0.0, 1.0, 0.0], 4, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn decode_rejects_garbage_and_empty() {
        assert!(matches!(
            decode(&[], DecodeLimits::default()),
            Err(ImageError::Empty)
        ));
        assert!(matches!(
            decode(b"hello, not an image", DecodeLimits::default()),
            Err(ImageError::Format(_))
        ));
    }

    #[test]
    fn decode_png_roundtrip_and_truncation() {
        let mut png = Vec::new();
        let img = image::RgbImage::from_fn(16, 9, |x, y| image::Rgb([x as u8, y as u8, 3]));
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let got = decode(&png, DecodeLimits::default()).unwrap();
        assert_eq!((got.width, got.height), (16, 9));
        assert_eq!(got.pixel(5, 2), [5, 2, 3]);
        let cut = &png[..png.len() / 2];
        assert!(matches!(
            decode(cut, DecodeLimits::default()),
            Err(ImageError::Corrupt(_))
        ));
    }

    #[test]
    fn decode_refuses_huge_header_without_allocating() {
        // A PNG header that claims 100000 x 100000 pixels, and nothing else.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        // A few bytes of pixel data, as a real file would start.
        let idat = b"IDAT\x78\x9c\x03\x00".to_vec();
        png.extend_from_slice(&4u32.to_be_bytes());
        png.extend_from_slice(&idat);
        png.extend_from_slice(&crc32(&idat).to_be_bytes());
        match decode(&png, DecodeLimits::default()) {
            Err(ImageError::TooLarge { width, height, .. }) => {
                assert_eq!((width, height), (100_000, 100_000))
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn wipe_zeroes_pixels() {
        let mut img = gradient(3, 3);
        img.wipe();
        assert!(img.data.iter().all(|&b| b == 0));
    }
}
