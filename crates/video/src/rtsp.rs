//! RTSP over TCP with `retina`: one thread per camera runs the session and the decoder (H.264 or
//! H.265) and hands RGB frames over a small channel. A stream that sends nothing for [`STALL`] counts as dead,
//! so the caller reconnects.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use futures::StreamExt;
use retina::client::{Credentials, PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat};

use crate::decode::{Codec, DecoderChoice, open_decoder};
use crate::{FrameSource, VideoError, VideoFrame};

/// No frame for this long: the stream is dead.
pub const STALL: Duration = Duration::from_secs(5);
/// How long connecting may take.
pub const CONNECT: Duration = Duration::from_secs(10);

enum Msg {
    Connected {
        fps: Option<f64>,
        decoder: &'static str,
    },
    Frame(VideoFrame),
    Failed(String),
}

pub struct RtspCamera {
    rx: Receiver<Msg>,
    fps: Option<f64>,
    decoder: &'static str,
}

impl RtspCamera {
    /// Connect, set up the first H.264 or H.265 video stream over TCP, open its decoder as `decoder`
    /// asks, and start playing.
    pub fn open(url: &str, decoder: DecoderChoice) -> Result<Self, VideoError> {
        let mut parsed =
            url::Url::parse(url).map_err(|e| VideoError::Rtsp(format!("bad URL: {e}")))?;
        let creds = (!parsed.username().is_empty()).then(|| Credentials {
            username: parsed.username().to_string(),
            password: parsed.password().unwrap_or_default().to_string(),
        });
        // Credentials travel in the RTSP handshake, not in the URL (which may be logged by servers).
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let (tx, rx) = sync_channel(2);
        std::thread::Builder::new()
            .name("rtsp".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e.to_string()));
                        return;
                    }
                };
                if let Err(e) = rt.block_on(run(parsed, creds, decoder, &tx)) {
                    let _ = tx.send(Msg::Failed(e));
                }
            })
            .map_err(|e| VideoError::Rtsp(e.to_string()))?;
        match rx.recv_timeout(CONNECT) {
            Ok(Msg::Connected { fps, decoder }) => Ok(Self { rx, fps, decoder }),
            Ok(Msg::Failed(e)) => Err(VideoError::Rtsp(e)),
            Ok(Msg::Frame(_)) => Err(VideoError::Rtsp("frame before connection".into())),
            Err(_) => Err(VideoError::Rtsp(format!(
                "no answer within {} s",
                CONNECT.as_secs()
            ))),
        }
    }
}

async fn run(
    url: url::Url,
    creds: Option<Credentials>,
    choice: DecoderChoice,
    tx: &SyncSender<Msg>,
) -> Result<(), String> {
    let mut session = Session::describe(
        url,
        SessionOptions::default()
            .creds(creds)
            .user_agent("mandat".to_string()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (video, codec) = session
        .streams()
        .iter()
        .enumerate()
        .find_map(|(i, s)| {
            let codec = match s.encoding_name().to_ascii_lowercase().as_str() {
                "h264" => Codec::H264,
                "h265" => Codec::H265,
                _ => return None,
            };
            (s.media() == "video").then_some((i, codec))
        })
        .ok_or("the stream has no H.264 or H.265 video")?;
    // The decoder first: a camera this build cannot decode is refused before it sends anything.
    let mut decoder = open_decoder(codec, choice).map_err(|e| e.to_string())?;
    session
        .setup(
            video,
            SetupOptions::default()
                .transport(Transport::Tcp(Default::default()))
                .frame_format(FrameFormat::SIMPLE),
        )
        .await
        .map_err(|e| e.to_string())?;
    let fps = match session.streams()[video].parameters() {
        Some(retina::codec::ParametersRef::Video(v)) => v
            .frame_rate()
            .filter(|(n, _)| *n > 0)
            .map(|(n, d)| d as f64 / n as f64),
        _ => None,
    };
    let mut demuxed = session
        .play(PlayOptions::default())
        .await
        .map_err(|e| e.to_string())?
        .demuxed()
        .map_err(|e| e.to_string())?;
    tx.send(Msg::Connected {
        fps,
        decoder: decoder.name(),
    })
    .map_err(|_| "closed")?;
    let (mut index, mut first_ts, mut out) = (0u64, None, Vec::new());
    loop {
        let item = tokio::time::timeout(STALL, demuxed.next())
            .await
            .map_err(|_| format!("no data for {} s", STALL.as_secs()))?;
        match item {
            None => return Err("the server ended the stream".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(CodecItem::VideoFrame(f))) => {
                let ts = f.timestamp();
                let t0 = *first_ts.get_or_insert(ts.elapsed());
                let media_ms =
                    ((ts.elapsed() - t0) as f64 * 1000.0 / ts.clock_rate().get() as f64) as i64;
                decoder
                    .decode(f.data(), &mut out)
                    .map_err(|e| e.to_string())?;
                for image in out.drain(..) {
                    let frame = VideoFrame {
                        image,
                        index,
                        media_ms,
                    };
                    index += 1;
                    if tx.send(Msg::Frame(frame)).is_err() {
                        return Ok(()); // The camera was closed.
                    }
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

impl FrameSource for RtspCamera {
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        match self.rx.recv_timeout(STALL) {
            Ok(Msg::Frame(f)) => Ok(Some(f)),
            Ok(Msg::Failed(e)) => Err(VideoError::Rtsp(e)),
            Ok(Msg::Connected { .. }) => Err(VideoError::Rtsp("connected twice".into())),
            Err(RecvTimeoutError::Timeout) => Err(VideoError::Rtsp(format!(
                "no frame for {} s",
                STALL.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(VideoError::Rtsp("the session ended".into()))
            }
        }
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }

    fn decoder(&self) -> &'static str {
        self.decoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_address_fails_with_a_clear_error() {
        // Port 9 on loopback: nothing listens there.
        let err = RtspCamera::open("rtsp://user:pw@127.0.0.1:9/stream", DecoderChoice::Auto)
            .err()
            .expect("nothing to connect to");
        let text = err.to_string();
        assert!(text.starts_with("RTSP:"), "{text}");
        assert!(
            !text.contains("pw"),
            "credentials in an error message: {text}"
        );
        assert!(RtspCamera::open("not a url", DecoderChoice::Auto).is_err());
    }
}
