//! Images in memory: bounded decoding, bilinear resize into the detector tensor, affine warp for alignment.
//!
//! Kernels follow OpenCV's conventions (pixel centres at +0.5, no antialiasing when shrinking), the
//! convention of the reference pipeline in `shared/golden`.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader, Limits};

/// An 8-bit RGB image, rows packed, no padding. Its pixels are wiped when it is dropped.
#[derive(PartialEq, Eq)]
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

    /// Overwrite the pixels with zeros. Runs on drop too, so frames of people nobody looks for
    /// leave nothing in freed memory.
    pub fn wipe(&mut self) {
        self.data.fill(0);
        // `black_box` makes the compiler assume the zeros are read, so it cannot drop the fill of a
        // buffer about to be freed; a plain memset keeps it fast on 1080p frames.
        std::hint::black_box(&mut self.data);
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// The rectangle `[x1, y1, x2, y2)` clamped to the image, as a new image.
    pub fn crop(&self, x1: usize, y1: usize, x2: usize, y2: usize) -> Result<RgbImage, ImageError> {
        let (x2, y2) = (x2.min(self.width), y2.min(self.height));
        if x1 >= x2 || y1 >= y2 {
            return Err(ImageError::Empty);
        }
        let mut data = Vec::with_capacity((x2 - x1) * (y2 - y1) * 3);
        for y in y1..y2 {
            let row = (y * self.width) * 3;
            data.extend_from_slice(&self.data[row + x1 * 3..row + x2 * 3]);
        }
        RgbImage::new(x2 - x1, y2 - y1, data)
    }

    /// Pixelate the rectangle with blocks of `block` pixels: what shows that a face was there and
    /// nothing of whose it was.
    pub fn pixelate(&mut self, x1: usize, y1: usize, x2: usize, y2: usize, block: usize) {
        let (x2, y2, block) = (x2.min(self.width), y2.min(self.height), block.max(1));
        let mut by = y1;
        while by < y2 {
            let mut bx = x1;
            while bx < x2 {
                let (ex, ey) = ((bx + block).min(x2), (by + block).min(y2));
                let mut sum = [0u64; 3];
                for y in by..ey {
                    for x in bx..ex {
                        let p = self.pixel(x, y);
                        for c in 0..3 {
                            sum[c] += p[c] as u64;
                        }
                    }
                }
                let n = ((ex - bx) * (ey - by)) as u64;
                let avg = sum.map(|v| (v / n) as u8);
                for y in by..ey {
                    for x in bx..ex {
                        let i = (y * self.width + x) * 3;
                        self.data[i..i + 3].copy_from_slice(&avg);
                    }
                }
                bx = ex;
            }
            by = (by + block).min(y2.max(by + 1));
        }
    }

    /// Encode as JPEG (libjpeg-turbo).
    pub fn to_jpeg(&self, quality: i32) -> Result<Vec<u8>, ImageError> {
        let img = turbojpeg::Image {
            pixels: self.data.as_slice(),
            width: self.width,
            pitch: self.width * 3,
            height: self.height,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(img, quality, turbojpeg::Subsamp::Sub2x2)
            .map(|b| b.to_vec())
            .map_err(|e| ImageError::Corrupt(format!("JPEG encoding: {e}")))
    }
}

// Manual, because `Drop` is implemented.
impl Clone for RgbImage {
    fn clone(&self) -> Self {
        Self {
            width: self.width,
            height: self.height,
            data: self.data.clone(),
        }
    }
}

impl Drop for RgbImage {
    fn drop(&mut self) {
        self.wipe();
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
    if bytes.starts_with(&[0xff, 0xd8]) {
        return decode_jpeg(bytes, limits);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Format(e.to_string()))?;
    match reader.format() {
        Some(image::ImageFormat::Png) => {}
        Some(other) => return Err(ImageError::Format(format!("{other:?} is not supported"))),
        None => return Err(ImageError::Format("unrecognised file signature".into())),
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, limits)?;
    let mut lim = Limits::default();
    lim.max_image_width = Some(limits.max_width);
    lim.max_image_height = Some(limits.max_height);
    // RGBA16 worst case, plus decoder working memory.
    lim.max_alloc = Some(limits.max_pixels * 8 + (64 << 20));
    decoder
        .set_limits(lim)
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(width, height, limits),
        other => ImageError::Corrupt(other.to_string()),
    })?;
    let rgb = img.into_rgb8();
    RgbImage::new(width as usize, height as usize, rgb.into_raw())
}

fn too_large(width: u32, height: u32, limits: DecodeLimits) -> ImageError {
    ImageError::TooLarge {
        width,
        height,
        max_width: limits.max_width,
        max_height: limits.max_height,
        max_pixels: limits.max_pixels,
    }
}

fn check_size(width: u32, height: u32, limits: DecodeLimits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(too_large(width, height, limits));
    }
    Ok(())
}

/// JPEG through libjpeg-turbo: the header is checked against the limits before the pixels are allocated.
fn decode_jpeg(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    let corrupt = |e: turbojpeg::Error| ImageError::Corrupt(e.to_string());
    let mut dec = turbojpeg::Decompressor::new().map_err(corrupt)?;
    let header = dec.read_header(bytes).map_err(corrupt)?;
    let (w, h) = (header.width, header.height);
    if w == 0 || h == 0 {
        return Err(ImageError::Corrupt("the JPEG header is truncated".into()));
    }
    check_size(
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
        limits,
    )?;
    let mut pixels = vec![0u8; w * h * 3];
    dec.decompress(
        bytes,
        turbojpeg::Image {
            pixels: pixels.as_mut_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        },
    )
    .map_err(corrupt)?;
    RgbImage::new(w, h, pixels)
}

/// One output sample of a bilinear resize: two source indices and their weights in 1/2048.
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: i32,
    w1: i32,
}

/// Taps along one axis for a resize from `src` to `dst` samples, computed as OpenCV's 8-bit
/// `INTER_LINEAR` does (pixel centres at +0.5, clamped edges, weights rounded to 1/2048).
fn resize_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let mut f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut i = f.floor() as i64;
            f -= i as f32;
            if i < 0 {
                f = 0.0;
                i = 0;
            }
            if i >= src as i64 - 1 {
                f = 0.0;
                i = src as i64 - 1;
            }
            let i0 = i as usize;
            Tap {
                i0,
                i1: (i0 + 1).min(src - 1),
                w0: ((1.0 - f) * 2048.0).round() as i32,
                w1: (f * 2048.0).round() as i32,
            }
        })
        .collect()
}

/// Resize `img` bilinearly to `rw` x `rh` and write it, top-left, into a planar f32 tensor of `tw` x `th`
/// (the rest stays as it is, normally zero). `bgr` chooses the channel order.
///
/// The arithmetic is OpenCV's fixed-point 8-bit path, so the detector sees the pixels the reference
/// pipeline saw: small rounding differences move the landmarks of marginal faces by up to a pixel.
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
    let stride = img.width * 3;
    // Horizontal pass of one source row into channel-major fixed-point values (scale 2048), so the
    // vertical pass below runs over contiguous memory and vectorises.
    let hpass = |y: usize, out: &mut [i32]| {
        let row = &img.data[y * stride..(y + 1) * stride];
        for (x, t) in xs.iter().enumerate() {
            let (a, b) = (t.i0 * 3, t.i1 * 3);
            for c in 0..3 {
                out[c * rw + x] = row[a + c] as i32 * t.w0 + row[b + c] as i32 * t.w1;
            }
        }
    };
    let (mut r0, mut r1) = (vec![0i32; rw * 3], vec![0i32; rw * 3]);
    let (mut y0_cached, mut y1_cached) = (usize::MAX, usize::MAX);
    for (y, t) in ys.iter().enumerate() {
        if t.i0 != y0_cached {
            if t.i0 == y1_cached {
                std::mem::swap(&mut r0, &mut r1);
                y1_cached = usize::MAX;
            } else {
                hpass(t.i0, &mut r0);
            }
            y0_cached = t.i0;
        }
        if t.i1 != y1_cached {
            hpass(t.i1, &mut r1);
            y1_cached = t.i1;
        }
        for c in 0..3 {
            let ch = if bgr { 2 - c } else { c };
            let dst = &mut tensor[ch * plane + y * tw..ch * plane + y * tw + rw];
            let (s0, s1) = (&r0[c * rw..(c + 1) * rw], &r1[c * rw..(c + 1) * rw]);
            for ((d, &a), &b) in dst.iter_mut().zip(s0).zip(s1) {
                // OpenCV's vectorised vertical pass: ((a>>4)*w0 >> 16) + ((b>>4)*w1 >> 16), rounded by 4.
                let v = ((((a >> 4) * t.w0) >> 16) + (((b >> 4) * t.w1) >> 16) + 2) >> 2;
                *d = v.clamp(0, 255) as f32;
            }
        }
    }
}

/// Zero the part of a planar `tw` x `th` tensor outside the top-left `rw` x `rh` rectangle, the
/// letterbox padding, so a reused buffer needs no full clear.
pub fn zero_padding(tensor: &mut [f32], rw: usize, rh: usize, tw: usize, th: usize) {
    for plane in tensor.chunks_exact_mut(tw * th) {
        for (y, row) in plane.chunks_exact_mut(tw).enumerate() {
            if y < rh {
                row[rw..].fill(0.0);
            } else {
                row.fill(0.0);
            }
        }
    }
}

/// Warp `img` by the affine map `m` (output pixel -> source pixel is `m`'s inverse) into a planar RGB f32
/// tensor of `size` x `size`, bilinear, border 0, with OpenCV's 8-bit fixed-point arithmetic. `m` maps source to destination: `[a, b, c, d, e, f]`
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
    let px = |x: i64, y: i64, ch: usize| -> i32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0
        } else {
            img.data[((y * w + x) * 3) as usize + ch] as i32
        }
    };
    // OpenCV's fixed point: coordinates in 1/1024 per term, summed and rounded to 1/32 pixel, weights
    // in 1/32768. For 1/32 steps the bilinear weights are exact integers.
    let q = |v: f64| (v * 1024.0).round() as i64;
    for oy in 0..size {
        let (x0, y0) = (q(ib * oy as f64 + ic), q(ie * oy as f64 + iff));
        for ox in 0..size {
            let sx = (x0 + q(ia * ox as f64) + 16) >> 5;
            let sy = (y0 + q(id * ox as f64) + 16) >> 5;
            let (ix, iy) = (sx >> 5, sy >> 5);
            let (fx, fy) = ((sx & 31) as i32, (sy & 31) as i32);
            let w00 = (32 - fx) * (32 - fy) * 32;
            let w01 = fx * (32 - fy) * 32;
            let w10 = (32 - fx) * fy * 32;
            let w11 = fx * fy * 32;
            for ch in 0..3 {
                let v = px(ix, iy, ch) * w00
                    + px(ix + 1, iy, ch) * w01
                    + px(ix, iy + 1, ch) * w10
                    + px(ix + 1, iy + 1, ch) * w11;
                out[ch * plane + oy * size + ox] = ((v + (1 << 14)) >> 15).clamp(0, 255) as f32;
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

    fn jpeg(img: &image::RgbImage) -> Vec<u8> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let buf = turbojpeg::compress(
            turbojpeg::Image {
                pixels: img.as_raw().as_slice(),
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            },
            95,
            turbojpeg::Subsamp::Sub2x2,
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn jpeg_decodes_and_truncation_is_an_error() {
        let img =
            image::RgbImage::from_fn(32, 16, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 100]));
        let jpg = jpeg(&img);
        let got = decode(&jpg, DecodeLimits::default()).unwrap();
        assert_eq!((got.width, got.height), (32, 16));
        let p = got.pixel(10, 5);
        assert!(
            (p[0] as i32 - 80).abs() < 8 && (p[2] as i32 - 100).abs() < 8,
            "{p:?}"
        );
        for cut in [2, 20, jpg.len() / 2] {
            match decode(&jpg[..cut], DecodeLimits::default()) {
                Err(ImageError::Corrupt(_)) | Err(ImageError::Format(_)) => {}
                // libjpeg-turbo may fill a truncated tail with grey, with a warning; no panic is the point.
                Ok(img) => assert_eq!((img.width, img.height), (32, 16)),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }

    #[test]
    fn jpeg_over_the_limits_is_refused_before_decoding() {
        let img = image::RgbImage::from_fn(64, 64, |_, _| image::Rgb([1, 2, 3]));
        let jpg = jpeg(&img);
        let small = DecodeLimits {
            max_width: 32,
            max_height: 32,
            max_pixels: 1024,
        };
        assert!(matches!(
            decode(&jpg, small),
            Err(ImageError::TooLarge { width: 64, .. })
        ));
    }

    #[test]
    fn wipe_zeroes_pixels() {
        let mut img = gradient(3, 3);
        img.wipe();
        assert!(img.data.iter().all(|&b| b == 0));
    }

    #[test]
    fn crop_pixelate_and_jpeg_round_trip() {
        let img = gradient(40, 30);
        let c = img.crop(10, 5, 20, 100).unwrap();
        assert_eq!((c.width, c.height), (10, 25));
        assert_eq!(c.pixel(0, 0), img.pixel(10, 5));
        assert!(img.crop(50, 0, 60, 10).is_err(), "outside the image");
        let mut p = img.clone();
        p.pixelate(0, 0, 40, 30, 10);
        assert_eq!(p.pixel(0, 0), p.pixel(9, 9), "one block, one colour");
        assert_ne!(p.pixel(0, 0), img.pixel(0, 0));
        let jpeg = img.to_jpeg(90).unwrap();
        let back = decode(&jpeg, DecodeLimits::default()).unwrap();
        assert_eq!((back.width, back.height), (40, 30));
    }
}
