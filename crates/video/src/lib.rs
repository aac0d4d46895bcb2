//! Camera sources: H.264 decoding with OpenH264, MP4 files replayed as cameras (at real-time pace or
//! as fast as possible) and, in [`rtsp`], RTSP over TCP.
//!
//! Every decoded frame is an [`RgbImage`], which wipes its pixels when dropped, so frames of people
//! nobody looks for leave nothing behind in freed memory. Sizes are bounded before any allocation.

pub mod h264;
pub mod mp4file;
pub mod rtsp;

use mandat_face::RgbImage;

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
    #[error("{0} has no H.264 video track; mandat reads H.264 (AVC) video")]
    NoVideo(String),
    #[error("H.264 decoder: {0}")]
    Decode(String),
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
}
