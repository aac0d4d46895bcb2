//! An MP4 (H.264) file replayed as a camera: at the file's own frame rate, as a live camera would
//! deliver it, or as fast as the decoder goes; once, or in a loop.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::h264::{H264Decoder, avcc_to_annexb};
use crate::{FrameSource, VideoError, VideoFrame};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Frames arrive at the file's frame rate, as from a live camera.
    RealTime,
    /// Frames arrive as fast as they decode (tests and benchmarks).
    Fast,
}

pub struct Mp4Camera {
    path: String,
    reader: mp4::Mp4Reader<BufReader<File>>,
    track: u32,
    samples: u32,
    next_sample: u32,
    length_size: usize,
    parameter_sets: Vec<u8>,
    decoder: H264Decoder,
    ready: VecDeque<mandat_face::RgbImage>,
    fps: f64,
    index: u64,
    pace: Pace,
    looping: bool,
    started: Instant,
    flushed: bool,
    packet: Vec<u8>,
}

impl Mp4Camera {
    pub fn open(path: &Path, pace: Pace, looping: bool) -> Result<Self, VideoError> {
        let shown = path.display().to_string();
        let f = File::open(path).map_err(|source| VideoError::Open {
            path: shown.clone(),
            source,
        })?;
        let size = f
            .metadata()
            .map_err(|source| VideoError::Open {
                path: shown.clone(),
                source,
            })?
            .len();
        let reader = mp4::Mp4Reader::read_header(BufReader::new(f), size)
            .map_err(|e| VideoError::Container(shown.clone(), e.to_string()))?;
        let (track, length_size, parameter_sets, fps, samples) = {
            let t = reader
                .tracks()
                .values()
                .find(|t| matches!(t.media_type(), Ok(mp4::MediaType::H264)))
                .ok_or_else(|| VideoError::NoVideo(shown.clone()))?;
            let avc1 = t
                .trak
                .mdia
                .minf
                .stbl
                .stsd
                .avc1
                .as_ref()
                .ok_or_else(|| VideoError::NoVideo(shown.clone()))?;
            let mut ps = Vec::new();
            for nal in avc1
                .avcc
                .sequence_parameter_sets
                .iter()
                .chain(&avc1.avcc.picture_parameter_sets)
            {
                ps.extend_from_slice(&[0, 0, 0, 1]);
                ps.extend_from_slice(&nal.bytes);
            }
            let fps = t.frame_rate();
            let fps = if fps.is_finite() && fps > 0.0 && fps <= 240.0 {
                fps
            } else {
                25.0
            };
            (
                t.track_id(),
                avc1.avcc.length_size_minus_one as usize + 1,
                ps,
                fps,
                t.sample_count(),
            )
        };
        Ok(Self {
            path: shown,
            reader,
            track,
            samples,
            next_sample: 1,
            length_size,
            parameter_sets,
            decoder: H264Decoder::new()?,
            ready: VecDeque::new(),
            fps,
            index: 0,
            pace,
            looping,
            started: Instant::now(),
            flushed: false,
            packet: Vec::new(),
        })
    }

    /// Decode until a frame is ready or the file ends.
    fn fill(&mut self) -> Result<(), VideoError> {
        while self.ready.is_empty() {
            if self.next_sample > self.samples {
                if !self.flushed {
                    self.flushed = true;
                    self.ready.extend(self.decoder.flush()?);
                    continue;
                }
                if self.looping && self.samples > 0 {
                    // Start over with a fresh decoder, so no reference frames leak across loops.
                    self.next_sample = 1;
                    self.flushed = false;
                    self.decoder = H264Decoder::new()?;
                    continue;
                }
                return Ok(());
            }
            let sample = self
                .reader
                .read_sample(self.track, self.next_sample)
                .map_err(|e| VideoError::Container(self.path.clone(), e.to_string()))?;
            self.next_sample += 1;
            let Some(sample) = sample else { continue };
            self.packet.clear();
            if sample.is_sync {
                // Parameter sets before every keyframe, so decoding can start at any of them.
                self.packet.extend_from_slice(&self.parameter_sets);
            }
            avcc_to_annexb(&sample.bytes, self.length_size, &mut self.packet)?;
            if let Some(img) = self.decoder.decode(&self.packet)? {
                self.ready.push_back(img);
            }
        }
        Ok(())
    }
}

impl FrameSource for Mp4Camera {
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        self.fill()?;
        let Some(image) = self.ready.pop_front() else {
            return Ok(None);
        };
        let media_ms = (self.index as f64 * 1000.0 / self.fps) as i64;
        if self.pace == Pace::RealTime {
            let due = self.started + Duration::from_millis(media_ms as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let frame = VideoFrame {
            image,
            index: self.index,
            media_ms,
        };
        self.index += 1;
        Ok(Some(frame))
    }

    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> std::path::PathBuf {
        std::env::var_os("MANDAT_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            })
    }

    #[test]
    fn decodes_every_frame_of_both_test_videos() {
        for (file, w, h, n) in [
            ("synthetic/synthetic_watchlist.mp4", 1280, 720, 750),
            ("video/street_1080p.mp4", 1920, 1080, 105),
        ] {
            let mut cam = Mp4Camera::open(&data().join(file), Pace::Fast, false).unwrap();
            assert_eq!(cam.fps(), Some(25.0));
            let mut count = 0;
            let mut last_ms = -1;
            while let Some(f) = cam.next_frame().unwrap() {
                assert_eq!((f.image.width, f.image.height), (w, h), "{file}");
                assert!(f.media_ms > last_ms);
                last_ms = f.media_ms;
                count += 1;
            }
            assert_eq!(count, n, "{file}");
        }
    }

    #[test]
    fn loops_and_refuses_what_is_not_video() {
        let mut cam =
            Mp4Camera::open(&data().join("video/street_1080p.mp4"), Pace::Fast, true).unwrap();
        for _ in 0..130 {
            assert!(
                cam.next_frame().unwrap().is_some(),
                "a looping camera never ends"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, b"definitely not an mp4 file").unwrap();
        assert!(Mp4Camera::open(&junk, Pace::Fast, false).is_err());
        assert!(matches!(
            Mp4Camera::open(&dir.path().join("missing.mp4"), Pace::Fast, false),
            Err(VideoError::Open { .. })
        ));
        // A truncated file: an error or an early end, never a panic.
        let full = std::fs::read(data().join("video/street_1080p.mp4")).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
        if let Ok(mut cam) = Mp4Camera::open(&cut, Pace::Fast, false) {
            for _ in 0..200 {
                match cam.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
