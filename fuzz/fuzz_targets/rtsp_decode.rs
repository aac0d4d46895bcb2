//! Fuzz a camera's input path as a hostile camera would drive it: an RTSP server on loopback answers
//! DESCRIBE, SETUP and PLAY for an H.264 or H.265 stream, then sends the fuzz input as RTP packets on
//! the interleaved TCP channel. `RtspCamera` (retina's depacketizer, then OpenH264 or FFmpeg) must
//! give frames or errors, never a panic, and every frame must be whole.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run rtsp_decode` (needs Debian's libavcodec-dev, libswscale-dev,
//! libclang-dev).
//!
//! Input: byte 0 chooses the codec (bit 0) and, for H.264, the decoder (bit 1); then packets, each a
//! 2-byte header (11 bits of length, bit 15 the RTP marker) and its payload.
#![no_main]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mandat_video::rtsp::RtspCamera;
use mandat_video::{DecoderChoice, FrameSource};

fn sdp(h265: bool) -> String {
    let (name, fmtp) = if h265 {
        ("H265", "")
    } else {
        ("H264", "a=fmtp:96 packetization-mode=1\r\n")
    };
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fuzz\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n\
         a=rtpmap:96 {name}/90000\r\n{fmtp}a=control:trackID=0\r\n"
    )
}

/// Answers one client until PLAY, then sends `packets` and closes.
fn serve(mut conn: TcpStream, port: u16, h265: bool, packets: Vec<Vec<u8>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    loop {
        let (mut method, mut cseq, mut body_len) = (String::new(), String::new(), 0usize);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if method.is_empty() {
                method = line.split(' ').next().unwrap_or("").to_string();
            } else if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "cseq" => cseq = v.trim().to_string(),
                    "content-length" => body_len = v.trim().parse().unwrap_or(0).min(4096),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; body_len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let head = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n");
        let reply = match method.as_str() {
            "DESCRIBE" => {
                let sdp = sdp(h265);
                format!(
                    "{head}Content-Base: rtsp://127.0.0.1:{port}/cam/\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    sdp.len()
                )
            }
            "SETUP" => format!(
                "{head}Session: 12345678;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
            ),
            "PLAY" => format!("{head}Session: 12345678\r\nRange: npt=0.000-\r\n\r\n"),
            _ => format!("{head}Public: DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"),
        };
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
        if method == "PLAY" {
            for p in packets {
                let mut frame = vec![b'$', 0];
                frame.extend_from_slice(&(p.len() as u16).to_be_bytes());
                frame.extend(p);
                if conn.write_all(&frame).is_err() {
                    return;
                }
            }
            return;
        }
    }
}

/// The input's packets with RTP headers: version 2, payload type 96, sequence numbers in order, the
/// timestamp advancing a frame (90 kHz / 25) after each marker.
fn packets(mut data: &[u8]) -> Vec<Vec<u8>> {
    let (mut out, mut seq, mut ts) = (Vec::new(), 0u16, 0u32);
    while data.len() >= 2 && out.len() < 256 {
        let head = u16::from_be_bytes([data[0], data[1]]);
        let len = usize::from(head & 0x7ff).min(data.len() - 2);
        let mark = head & 0x8000 != 0;
        let mut p = vec![0x80, if mark { 0x80 | 96 } else { 96 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(&data[2..2 + len]);
        out.push(p);
        data = &data[2 + len..];
        seq = seq.wrapping_add(1);
        if mark {
            ts = ts.wrapping_add(3600);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let h265 = mode & 1 != 0;
    let decoder = if h265 || mode & 2 != 0 {
        DecoderChoice::Ffmpeg
    } else {
        DecoderChoice::OpenH264
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let packets = packets(rest);
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        // Polled, so a client that never connects cannot hang the run.
        for _ in 0..300 {
            match listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    return serve(conn, port, h265, packets);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    if let Ok(mut cam) = RtspCamera::open(&format!("rtsp://127.0.0.1:{port}/cam"), decoder) {
        for _ in 0..64 {
            match cam.next_frame() {
                Ok(Some(f)) => {
                    let img = &f.image;
                    assert!(img.width > 0 && img.height > 0);
                    assert_eq!(img.data.len(), img.width * img.height * 3);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = server.join();
});
