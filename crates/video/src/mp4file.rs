//! An MP4 (H.264 or H.265) file replayed as a camera: at the file's own frame rate, as a live camera would
//! deliver it, or as fast as the decoder goes; once, or in a loop.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::decode::{Codec, DecoderChoice, VideoDecoder, open_decoder};
use crate::h264::avcc_to_annexb;
use crate::{FrameSource, VideoError, VideoFrame, isobmff};

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
    codec: Codec,
    choice: DecoderChoice,
    decoder: Box<dyn VideoDecoder>,
    ready: VecDeque<mandat_face::RgbImage>,
    out: Vec<mandat_face::RgbImage>,
    fps: f64,
    index: u64,
    pace: Pace,
    looping: bool,
    started: Instant,
    flushed: bool,
    packet: Vec<u8>,
}

impl Mp4Camera {
    /// Open an MP4 file with an H.264 or H.265 video track, decoded as `decoder` asks.
    pub fn open(
        path: &Path,
        pace: Pace,
        looping: bool,
        decoder: DecoderChoice,
    ) -> Result<Self, VideoError> {
        let shown = path.display().to_string();
        let open_err = |source| VideoError::Open {
            path: shown.clone(),
            source,
        };
        let f = File::open(path).map_err(open_err)?;
        let size = f.metadata().map_err(open_err)?.len();
        let reader = mp4::Mp4Reader::read_header(BufReader::new(f), size)
            .map_err(|e| VideoError::Container(shown.clone(), e.to_string()))?;
        let h264 = reader.tracks().values().find_map(|t| {
            let avc1 = t.trak.mdia.minf.stbl.stsd.avc1.as_ref()?;
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
            Some((
                Codec::H264,
                t.track_id(),
                avc1.avcc.length_size_minus_one as usize + 1,
                ps,
            ))
        });
        let (codec, track, length_size, parameter_sets) = match h264 {
            Some(found) => found,
            // The mp4 crate reads everything but an H.265 track's parameter sets: those are read
            // here, only for files without an H.264 track.
            None => {
                let mut f = File::open(path).map_err(open_err)?;
                let h = isobmff::find_hevc_track(&mut f)
                    .map_err(open_err)?
                    .ok_or_else(|| VideoError::NoVideo(shown.clone()))?;
                (Codec::H265, h.track_id, h.length_size, h.parameter_sets)
            }
        };
        let t = reader
            .tracks()
            .get(&track)
            .ok_or_else(|| VideoError::NoVideo(shown.clone()))?;
        let fps = t.frame_rate();
        let fps = if fps.is_finite() && fps > 0.0 && fps <= 240.0 {
            fps
        } else {
            25.0
        };
        let samples = t.sample_count();
        Ok(Self {
            path: shown,
            reader,
            track,
            samples,
            next_sample: 1,
            length_size,
            parameter_sets,
            codec,
            choice: decoder,
            decoder: open_decoder(codec, decoder)?,
            ready: VecDeque::new(),
            out: Vec::new(),
            fps,
            index: 0,
            pace,
            looping,
            started: Instant::now(),
            flushed: false,
            packet: Vec::new(),
        })
    }

    /// The file's codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The next access unit in Annex B form, undecoded (tests feed decoders with it).
    #[cfg(test)]
    pub(crate) fn next_packet(&mut self) -> Result<Option<Vec<u8>>, VideoError> {
        Ok(self.read_packet()?.then(|| self.packet.clone()))
    }

    /// Read the next sample into `self.packet` as an Annex B access unit; false at the track's end.
    fn read_packet(&mut self) -> Result<bool, VideoError> {
        while self.next_sample <= self.samples {
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
            return Ok(true);
        }
        Ok(false)
    }

    /// Decode until a frame is ready or the file ends.
    fn fill(&mut self) -> Result<(), VideoError> {
        while self.ready.is_empty() {
            if self.next_sample > self.samples {
                if !self.flushed {
                    self.flushed = true;
                    self.decoder.flush(&mut self.out)?;
                    self.ready.extend(self.out.drain(..));
                    continue;
                }
                if self.looping && self.samples > 0 {
                    // Start over with a fresh decoder, so no reference frames leak across loops.
                    self.next_sample = 1;
                    self.flushed = false;
                    self.decoder = open_decoder(self.codec, self.choice)?;
                    continue;
                }
                return Ok(());
            }
            if !self.read_packet()? {
                continue; // The end of the track: flushed or looped above.
            }
            self.decoder.decode(&self.packet, &mut self.out)?;
            self.ready.extend(self.out.drain(..));
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

    fn decoder(&self) -> &'static str {
        self.decoder.name()
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
            let mut cam = Mp4Camera::open(
                &data().join(file),
                Pace::Fast,
                false,
                DecoderChoice::OpenH264,
            )
            .unwrap();
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
        let mut cam = Mp4Camera::open(
            &data().join("video/street_1080p.mp4"),
            Pace::Fast,
            true,
            DecoderChoice::Auto,
        )
        .unwrap();
        for _ in 0..130 {
            assert!(
                cam.next_frame().unwrap().is_some(),
                "a looping camera never ends"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, b"definitely not an mp4 file").unwrap();
        assert!(Mp4Camera::open(&junk, Pace::Fast, false, DecoderChoice::Auto).is_err());
        assert!(matches!(
            Mp4Camera::open(
                &dir.path().join("missing.mp4"),
                Pace::Fast,
                false,
                DecoderChoice::Auto
            ),
            Err(VideoError::Open { .. })
        ));
        // A truncated file: an error or an early end, never a panic.
        let full = std::fs::read(data().join("video/street_1080p.mp4")).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
        if let Ok(mut cam) = Mp4Camera::open(&cut, Pace::Fast, false, DecoderChoice::Auto) {
            for _ in 0..200 {
                match cam.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
