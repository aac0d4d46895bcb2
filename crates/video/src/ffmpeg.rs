//! H.264 and H.265 through FFmpeg (Debian's libavcodec and libswscale), in software or on an NVIDIA
//! GPU with NVDEC (`h264_cuvid`, `hevc_cuvid`).
//!
//! One thread per decoder: a worker runs many cameras, so its cores are used across cameras, and
//! FFmpeg's frame threads would each add a frame of delay. FFmpeg's own log is silenced: every
//! failure comes back as a [`VideoError`], and its messages could otherwise flood the journal when a
//! camera sends garbage.

use std::sync::OnceLock;

use ff::codec::threading;
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use mandat_face::RgbImage;

use crate::decode::{Codec, VideoDecoder};
use crate::{MAX_HEIGHT, MAX_WIDTH, VideoError};

pub struct FfmpegDecoder {
    decoder: ff::decoder::Video,
    /// Rebuilt whenever the stream's size or pixel format changes.
    scaler: Option<(Pixel, u32, u32, Scaler)>,
    frame: ff::frame::Video,
    name: &'static str,
}

struct Scaler(scaling::Context);

// SAFETY: the swscale context is owned by one decoder alone and used by one thread at a time; the
// wrapper is !Send only because it holds a raw pointer.
unsafe impl Send for Scaler {}

fn init() -> Result<(), VideoError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ff::util::log::set_level(ff::util::log::Level::Quiet);
        ff::init().map_err(|e| format!("cannot start FFmpeg: {e}"))
    })
    .clone()
    .map_err(VideoError::Decode)
}

impl FfmpegDecoder {
    /// A software decoder, or with `gpu` FFmpeg's NVDEC decoder, which must open or fail.
    pub fn new(codec: Codec, gpu: bool) -> Result<Self, VideoError> {
        init()?;
        let (codec_ff, name) = match (codec, gpu) {
            (Codec::H264, false) => (ff::decoder::find(ff::codec::Id::H264), "ffmpeg h264"),
            (Codec::H265, false) => (ff::decoder::find(ff::codec::Id::HEVC), "ffmpeg hevc"),
            (Codec::H264, true) => (ff::decoder::find_by_name("h264_cuvid"), "nvdec h264"),
            (Codec::H265, true) => (ff::decoder::find_by_name("hevc_cuvid"), "nvdec hevc"),
        };
        let codec_ff = codec_ff.ok_or_else(|| {
            VideoError::Unsupported(if gpu {
                format!(
                    "this FFmpeg has no NVDEC decoder for {codec} ({name}): install an FFmpeg built \
                     with cuvid (Debian's is), or use --decoder ffmpeg"
                )
            } else {
                format!("this FFmpeg has no {codec} decoder: install Debian's libavcodec59")
            })
        })?;
        let mut ctx = ff::codec::context::Context::new_with_codec(codec_ff);
        ctx.set_threading(threading::Config {
            kind: threading::Type::None,
            count: 1,
            ..Default::default()
        });
        // A stream announcing more pixels than mandat accepts is refused by libavcodec itself,
        // before it sizes a frame pool by the stream's word.
        // SAFETY: the context is allocated and not yet opened; max_pixels is a plain field.
        unsafe {
            (*ctx.as_mut_ptr()).max_pixels = (MAX_WIDTH * MAX_HEIGHT) as i64;
        }
        let decoder = ctx
            .decoder()
            .open_as(codec_ff)
            .and_then(|d| d.video())
            .map_err(|e| {
                if gpu {
                    VideoError::Unsupported(format!(
                        "NVDEC ({name}) cannot start: {e}. It needs an NVIDIA GPU with its driver \
                         (libcuda.so.1); on a machine without one, use --decoder ffmpeg"
                    ))
                } else {
                    VideoError::Decode(format!("cannot open FFmpeg's {codec} decoder: {e}"))
                }
            })?;
        Ok(Self {
            decoder,
            scaler: None,
            frame: ff::frame::Video::empty(),
            name,
        })
    }

    fn drain(&mut self, out: &mut Vec<RgbImage>) -> Result<(), VideoError> {
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => out.push(self.convert()?),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(VideoError::Decode(e.to_string())),
            }
        }
    }

    /// The decoded frame as RGB, converted straight into the buffer that wipes itself on drop; the
    /// decoder's reference to the picture is released at once.
    fn convert(&mut self) -> Result<RgbImage, VideoError> {
        let result = self.convert_frame();
        // SAFETY: the frame is owned here; unref releases its buffers and leaves it empty.
        unsafe { ff::ffi::av_frame_unref(self.frame.as_mut_ptr()) };
        result
    }

    fn convert_frame(&mut self) -> Result<RgbImage, VideoError> {
        let (w, h, fmt) = (self.frame.width(), self.frame.height(), self.frame.format());
        if w as usize > MAX_WIDTH || h as usize > MAX_HEIGHT {
            return Err(VideoError::TooLarge(w as usize, h as usize));
        }
        if w == 0 || h == 0 || fmt == Pixel::None {
            return Err(VideoError::Decode("the decoder gave an empty frame".into()));
        }
        let rebuild =
            !matches!(&self.scaler, Some((f, sw, sh, _)) if (*f, *sw, *sh) == (fmt, w, h));
        if rebuild {
            let ctx =
                scaling::Context::get(fmt, w, h, Pixel::RGB24, w, h, scaling::Flags::BILINEAR)
                    .map_err(|e| {
                        VideoError::Decode(format!("no conversion from {fmt:?} to RGB: {e}"))
                    })?;
            self.scaler = Some((fmt, w, h, Scaler(ctx)));
        }
        let Some((_, _, _, scaler)) = self.scaler.as_mut() else {
            return Err(VideoError::Decode("no colour conversion".into()));
        };
        let (wu, hu) = (w as usize, h as usize);
        // The image first, so the pixels are wiped on every path, errors included.
        let mut img = RgbImage::new(wu, hu, vec![0u8; wu * hu * 3])
            .map_err(|e| VideoError::Decode(e.to_string()))?;
        let dst = [
            img.data.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ];
        let dst_stride = [(wu * 3) as i32, 0, 0, 0];
        // SAFETY: the scaler was made for this frame's format and size; `img.data` holds h rows of
        // w * 3 bytes, which is what RGB24 at that size writes with that stride.
        let rows = unsafe {
            let src = self.frame.as_ptr();
            ff::ffi::sws_scale(
                scaler.0.as_mut_ptr(),
                (*src).data.as_ptr() as *const *const u8,
                (*src).linesize.as_ptr(),
                0,
                h as i32,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows != h as i32 {
            return Err(VideoError::Decode(format!(
                "colour conversion gave {rows} of {h} rows"
            )));
        }
        Ok(img)
    }
}

impl VideoDecoder for FfmpegDecoder {
    fn decode(&mut self, annexb: &[u8], out: &mut Vec<RgbImage>) -> Result<(), VideoError> {
        if annexb.is_empty() {
            return Ok(()); // An empty packet would mean end of stream to FFmpeg.
        }
        let packet = ff::Packet::copy(annexb);
        match self.decoder.send_packet(&packet) {
            Ok(()) => {}
            // Invalid data is reported, not fatal: the caller counts it and goes on.
            Err(e) => {
                self.drain(out)?;
                return Err(VideoError::Decode(e.to_string()));
            }
        }
        self.drain(out)
    }

    fn flush(&mut self, out: &mut Vec<RgbImage>) -> Result<(), VideoError> {
        let result = match self.decoder.send_eof() {
            Ok(()) | Err(ff::Error::Eof) => self.drain(out),
            Err(e) => Err(VideoError::Decode(e.to_string())),
        };
        // Whatever happened, the decoder leaves end-of-stream and takes packets again.
        self.decoder.flush();
        result
    }

    fn name(&self) -> &'static str {
        self.name
    }
}
