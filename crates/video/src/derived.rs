//! Test support: clips derived from the test videos (an H.265 copy, made with the `ffmpeg` program,
//! Debian's, with libx265, into a cache outside the repository, once per source file) and an RTSP
//! server that serves them. Nothing here runs in `mandat serve`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::VideoError;

/// The cache for derived clips: `$MANDAT_CACHE/derived`, else `$XDG_CACHE_HOME/mandat/derived`,
/// else `~/.cache/mandat/derived` (the models' cache).
pub fn cache_dir() -> Option<PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("MANDAT_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("mandat")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/mandat")))
        .map(|p| p.join("derived"))
}

/// The first `seconds` of `source` re-encoded as H.265 (Main, CRF 18, a keyframe each second, no
/// audio) in an MP4 with an `hvc1` or `hev1` sample entry as `tag` says. Made once, then reused.
pub fn h265_copy(source: &Path, seconds: f64, tag: &str) -> Result<PathBuf, VideoError> {
    // One maker at a time in this process; other processes write their own part files.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let fail = |m: String| VideoError::Unsupported(format!("cannot make an H.265 test clip: {m}"));
    let dir = cache_dir().ok_or_else(|| fail("no cache directory: set MANDAT_CACHE".into()))?;
    let meta = std::fs::metadata(source).map_err(|e| fail(format!("{}: {e}", source.display())))?;
    // Keyed by size and modification time, so a changed source is made again.
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let len = format!("{}-{modified}", meta.len());
    let stem = source.file_stem().unwrap_or_default().to_string_lossy();
    let out = dir.join(format!("{stem}-{len}-{seconds}s-{tag}.mp4"));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    // Written beside, then renamed: a run cut short leaves no half file to be taken as whole.
    let part = dir.join(format!(
        "{stem}-{len}-{seconds}s-{tag}.{}.part.mp4",
        std::process::id()
    ));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(source)
        .args([
            "-t",
            &seconds.to_string(),
            "-an",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
        ])
        .args([
            "-crf",
            "18",
            "-x265-params",
            "log-level=error:keyint=25",
            "-tag:v",
            tag,
        ])
        .arg(&part)
        .status()
        .map_err(|e| fail(format!("the ffmpeg program (Debian package ffmpeg): {e}")))?;
    if !status.success() {
        return Err(fail(format!("ffmpeg exited with {status}")));
    }
    std::fs::rename(&part, &out).map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// GStreamer's RTSP server on loopback (`scripts/rtsp_server.py`, from this source tree) serving an
/// MP4 file at `rtsp://127.0.0.1:PORT/cam`; killed when dropped, also when an assertion fails.
pub struct RtspTestServer(Child);

impl RtspTestServer {
    /// Start serving `file` (`codec`: "h264" or "h265") on `port`; returns once it is ready.
    pub fn start(file: &Path, port: u16, codec: &str) -> Result<Self, VideoError> {
        let fail = |m: String| VideoError::Unsupported(format!("the RTSP test server: {m}"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rtsp_server.py");
        // Debian's python, where python3-gi and gst-rtsp-server are (`./test.sh` installs them).
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(file)
            .arg(port.to_string())
            .arg(codec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "{e} (needs python3-gi and gir1.2-gst-rtsp-server-1.0)"
                ))
            })?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let server = Self(child);
        match read {
            Some(Ok(_)) if line.trim() == "ready" => Ok(server),
            _ => Err(fail(format!("did not start (said {:?})", line.trim()))),
        }
    }

    pub fn url(port: u16) -> String {
        format!("rtsp://127.0.0.1:{port}/cam")
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RtspTestServer {
    fn drop(&mut self) {
        self.kill();
    }
}
