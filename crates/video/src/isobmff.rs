//! The one thing the `mp4` crate does not read: an H.265 track's sample entry (`hev1` or `hvc1`) with
//! its `hvcC` record, which holds the parameter sets (VPS, SPS, PPS) and the NAL length size. The
//! samples themselves are then read through `mp4` like H.264 ones.
//!
//! Every length is checked against what encloses it, so a corrupt file gives `None` or an error,
//! never a panic or a large allocation.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// The `moov` box is read whole; real ones are kilobytes to a few megabytes.
const MAX_MOOV: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcTrack {
    pub track_id: u32,
    /// Bytes of each NAL unit's length prefix in a sample (1, 2 or 4).
    pub length_size: usize,
    /// VPS, SPS and PPS in Annex B form, to put before each keyframe.
    pub parameter_sets: Vec<u8>,
}

/// The first H.265 video track of an MP4 file, if it has one.
pub fn find_hevc_track(file: &mut File) -> std::io::Result<Option<HevcTrack>> {
    let Some(moov) = read_moov(file)? else {
        return Ok(None);
    };
    for trak in children(&moov).filter(|(t, _)| t == b"trak") {
        let Some(id) = child(trak.1, b"tkhd").and_then(track_id) else {
            continue;
        };
        let stsd = [&b"mdia"[..], b"minf", b"stbl", b"stsd"]
            .iter()
            .try_fold(trak.1, |b, name| child(b, name));
        // stsd: version and flags (4), entry count (4), then sample entries.
        let Some(entries) = stsd.and_then(|s| s.get(8..)) else {
            continue;
        };
        for (kind, entry) in children(entries) {
            if &kind != b"hev1" && &kind != b"hvc1" {
                continue;
            }
            // A visual sample entry has 78 bytes of fixed fields before its child boxes.
            if let Some(track) = entry
                .get(78..)
                .and_then(|rest| child(rest, b"hvcC"))
                .and_then(|hvcc| parse_hvcc(id, hvcc))
            {
                return Ok(Some(track));
            }
        }
    }
    Ok(None)
}

fn read_moov(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        file.seek(SeekFrom::Start(pos))?;
        let mut head = [0u8; 16];
        file.read_exact(&mut head[..8])?;
        let mut size = u32::from_be_bytes(head[..4].try_into().unwrap()) as u64;
        let mut header = 8;
        if size == 1 {
            file.read_exact(&mut head[8..16])?;
            size = u64::from_be_bytes(head[8..16].try_into().unwrap());
            header = 16;
        } else if size == 0 {
            size = len - pos; // To the end of the file.
        }
        // Checked: a 64-bit size near 2^64 would otherwise wrap `pos` and loop for ever.
        let Some(end) = pos
            .checked_add(size)
            .filter(|&end| size >= header && end <= len)
        else {
            return Ok(None);
        };
        if &head[4..8] == b"moov" {
            if size - header > MAX_MOOV {
                return Ok(None);
            }
            let mut body = vec![0u8; (size - header) as usize];
            file.read_exact(&mut body)?;
            return Ok(Some(body));
        }
        pos = end;
    }
    Ok(None)
}

/// The boxes directly inside `buf`, as (type, body). Stops at the first malformed one.
fn children(buf: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = rest[4..8].try_into().unwrap();
        let (header, size) = match size {
            0 => (8, rest.len()),
            1 => {
                let big = u64::from_be_bytes(rest.get(8..16)?.try_into().unwrap());
                (16, usize::try_from(big).ok()?)
            }
            n => (8, n),
        };
        if size < header || size > rest.len() {
            return None;
        }
        let body = &rest[header..size];
        rest = &rest[size..];
        Some((kind, body))
    })
}

fn child<'a>(buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    children(buf).find(|(k, _)| k == name).map(|(_, b)| b)
}

fn track_id(tkhd: &[u8]) -> Option<u32> {
    // Version 1 has 64-bit creation and modification times.
    let at = if *tkhd.first()? == 1 { 20 } else { 12 };
    Some(u32::from_be_bytes(tkhd.get(at..at + 4)?.try_into().ok()?))
}

/// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1).
fn parse_hvcc(track_id: u32, b: &[u8]) -> Option<HevcTrack> {
    let length_size = (*b.get(21)? & 0b11) as usize + 1;
    if length_size == 3 {
        return None;
    }
    let arrays = *b.get(22)?;
    let mut at = 23;
    let mut parameter_sets = Vec::new();
    for _ in 0..arrays {
        let nal_type = *b.get(at)? & 0x3f;
        let count = u16::from_be_bytes(b.get(at + 1..at + 3)?.try_into().ok()?);
        at += 3;
        for _ in 0..count {
            let n = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
            let nal = b.get(at + 2..at + 2 + n)?;
            at += 2 + n;
            // VPS 32, SPS 33, PPS 34; SEI arrays are left out.
            if (32..=34).contains(&nal_type) {
                parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
                parameter_sets.extend_from_slice(nal);
            }
        }
    }
    Some(HevcTrack {
        track_id,
        length_size,
        parameter_sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn file(kind: &[u8; 4]) -> Vec<u8> {
        let mut hvcc = vec![1u8; 21];
        hvcc.push(0xfc | 3); // NAL lengths of 4 bytes
        hvcc.push(2); // two arrays
        hvcc.extend_from_slice(&[0x20, 0, 1, 0, 2, 0x40, 0x01]); // one VPS
        hvcc.extend_from_slice(&[0x27, 0, 1, 0, 1, 0x4e]); // one SEI, left out
        let mut entry = vec![0u8; 78];
        entry.extend(boxed(b"hvcC", &hvcc));
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(kind, &entry));
        let stbl = boxed(b"stbl", &boxed(b"stsd", &stsd));
        let mdia = boxed(b"mdia", &boxed(b"minf", &stbl));
        let mut tkhd = vec![0u8; 20];
        tkhd[12..16].copy_from_slice(&7u32.to_be_bytes());
        let mut trak = boxed(b"tkhd", &tkhd);
        trak.extend(mdia);
        let mut out = boxed(b"ftyp", b"isom\0\0\0\0");
        out.extend(boxed(b"moov", &boxed(b"trak", &trak)));
        out
    }

    fn find(bytes: &[u8]) -> Option<HevcTrack> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        find_hevc_track(&mut f).unwrap_or(None)
    }

    #[test]
    fn reads_hev1_and_hvc1_entries_and_survives_every_truncation() {
        for kind in [b"hev1", b"hvc1"] {
            let bytes = file(kind);
            let track = find(&bytes).expect("an H.265 track");
            assert_eq!(track.track_id, 7);
            assert_eq!(track.length_size, 4);
            assert_eq!(track.parameter_sets, [0, 0, 0, 1, 0x40, 0x01]);
            for cut in 0..bytes.len() {
                assert_eq!(find(&bytes[..cut]), None, "cut at {cut}");
            }
        }
        assert_eq!(find(&file(b"avc1")), None);
        // A box claiming to be larger than the file.
        let mut lying = file(b"hev1");
        lying[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(find(&lying), None);
        // A 64-bit size that would wrap the position back to the start: refused, not a loop.
        let mut wrapping = boxed(b"ftyp", b"isom\0\0\0\0");
        wrapping.extend_from_slice(&1u32.to_be_bytes());
        wrapping.extend_from_slice(b"free");
        wrapping.extend_from_slice(&(u64::MAX - 15).to_be_bytes());
        wrapping.extend_from_slice(&[0; 16]);
        assert_eq!(find(&wrapping), None);
    }
}
