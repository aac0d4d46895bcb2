//! Clips derived from the test videos for tests and benchmarks: an H.265 copy, made with the `ffmpeg`
//! program (Debian's, with libx265) into a cache outside the repository, once per source file.
//! Nothing here runs in `mandat serve`.

use std::path::{Path, PathBuf};
use std::process::Command;

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
