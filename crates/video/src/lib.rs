//! Camera sources: MP4 files replayed as cameras (at real-time pace or as fast as possible) and, in
//! [`rtsp`], RTSP over TCP; H.264 or H.265, decoded as [`decode`] chooses (OpenH264, FFmpeg or
//! NVDEC).
//!
//! Every decoded frame is an [`RgbImage`], which wipes its pixels when dropped, so frames of people
//! nobody looks for leave nothing behind in freed memory (the decoders' own reference pictures are
//! not wiped: they live inside OpenH264 and libavcodec). Frame sizes are bounded: OpenH264's and
//! FFmpeg's output is checked before the RGB buffer is allocated, and libavcodec itself refuses
//! streams over the limit (`max_pixels`); NVDEC's surfaces are sized by NVIDIA's driver.

pub mod decode;
pub mod derived;
#[cfg(feature = "ffmpeg")]
pub mod ffmpeg;
#[cfg(test)]
mod golden_tests;
pub mod h264;
mod isobmff;
pub mod mp4file;
pub mod rtsp;

use mandat_face::RgbImage;

pub use decode::{
    Codec, DecoderChoice, FFMPEG_BUILT_IN, VideoDecoder, open_decoder, probe_decoders,
};
pub use h264::H264Decoder;
pub use mp4file::{Mp4Camera, Pace};
pub use rtsp::RtspCamera;

/// Largest frame accepted from any source (8K UHD). A stream claiming more is refused.
pub const MAX_WIDTH: usize = 7680;
pub const MAX_HEIGHT: usize = 4320;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a usable MP4 file: {1}")]
    Container(String, String),
    #[error(
        "{0} has no H.264 or H.265 video track; mandat reads H.264 (AVC) and H.265 (HEVC) video"
    )]
    NoVideo(String),
    #[error("decoder: {0}")]
    Decode(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the stream's frames are {0}x{1}, over the limit of {MAX_WIDTH}x{MAX_HEIGHT}")]
    TooLarge(usize, usize),
    #[error("RTSP: {0}")]
    Rtsp(String),
}

/// One decoded frame of a camera.
#[derive(Debug)]
pub struct VideoFrame {
    pub image: RgbImage,
    /// Frame number since the source started (display order).
    pub index: u64,
    /// Position in the stream in milliseconds (media time).
    pub media_ms: i64,
}

/// Anything that yields frames: a file replayed as a camera, or a live stream.
pub trait FrameSource: Send {
    /// The next frame, `Ok(None)` at the end of a file, or an error (the caller reconnects).
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError>;
    /// Nominal frames per second, if known.
    fn fps(&self) -> Option<f64>;
    /// What decodes the stream ("ffmpeg h264", "openh264"), for logs and camera health.
    fn decoder(&self) -> &'static str;
}
