//! Video stage: frames + audio → a file, streaming.
//!
//! Frames go to the sink as soon as they are rendered, so memory stays flat
//! whatever the clip length. Three sinks exist:
//!
//! - [`Mp4Sink`]: raw RGB piped into an ffmpeg process → H.264 yuv420p + AAC MP4.
//! - [`GifSink`]: animated GIF, needs no ffmpeg.
//! - [`PngSequenceSink`]: numbered PNGs plus `audio.wav`, needs no ffmpeg.
//!
//! Every sink writes to a temporary name beside the target and renames on
//! success, so a failure or cancellation never leaves a half-written output.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;

use crate::audio::Soundtrack;
use crate::error::{Error, Result};

/// Environment variable naming the ffmpeg binary to use.
pub const FFMPEG_ENV: &str = "VOXPORTRAIT_FFMPEG";

/// An exact, rational frame rate such as 25/1 or 30000/1001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawFps", into = "RawFps")]
pub struct Fps {
    num: u32,
    den: u32,
}

/// [`Fps`] as it appears in JSON, validated on the way in.
#[derive(serde::Serialize, serde::Deserialize)]
struct RawFps {
    num: u32,
    den: u32,
}

impl TryFrom<RawFps> for Fps {
    type Error = Error;
    fn try_from(r: RawFps) -> Result<Self> {
        Fps::new(r.num, r.den)
    }
}

impl From<Fps> for RawFps {
    fn from(f: Fps) -> Self {
        RawFps {
            num: f.num,
            den: f.den,
        }
    }
}

impl Fps {
    /// Frame rate `num/den`, reduced; must lie in 1..=240 fps.
    pub fn new(num: u32, den: u32) -> Result<Self> {
        if num == 0 || den == 0 {
            return Err(Error::Input(format!(
                "frame rate {num}/{den} must be positive"
            )));
        }
        let g = gcd(num, den);
        let fps = Self {
            num: num / g,
            den: den / g,
        };
        if !(1.0..=240.0).contains(&fps.as_f64()) {
            return Err(Error::Input(format!(
                "frame rate {fps} is out of range; use 1 to 240 fps"
            )));
        }
        Ok(fps)
    }

    /// Parses "25", "29.97", "23.976" or "30000/1001". The NTSC decimals
    /// (23.976, 29.97, 47.952, 59.94, 119.88) map to their exact x/1001 rates.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
                "invalid frame rate {text:?}; use e.g. 25, 29.97 or 30000/1001"
            ))
        };
        let t = text.trim();
        if let Some((n, d)) = t.split_once('/') {
            let n = n.trim().parse().map_err(|_| bad())?;
            let d = d.trim().parse().map_err(|_| bad())?;
            return Self::new(n, d);
        }
        let v: f64 = t.parse().map_err(|_| bad())?;
        if !v.is_finite() || v <= 0.0 {
            return Err(bad());
        }
        for base in [24u32, 30, 48, 60, 120] {
            let ntsc = base as f64 * 1000.0 / 1001.0;
            if (v - ntsc).abs() < 0.006 {
                return Self::new(base * 1000, 1001);
            }
        }
        if v > 1000.0 {
            return Err(Error::Input(format!(
                "frame rate {t} is out of range; use 1 to 240 fps"
            )));
        }
        Self::new((v * 1000.0).round() as u32, 1000)
    }

    /// Numerator of the reduced fraction.
    pub fn num(&self) -> u32 {
        self.num
    }

    /// Denominator of the reduced fraction.
    pub fn den(&self) -> u32 {
        self.den
    }

    /// Frames per second as a float.
    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Number of frames covering `samples` audio samples at `sample_rate`:
    /// `round(duration * fps)`, computed exactly.
    pub fn frame_count(&self, samples: u64, sample_rate: u32) -> u64 {
        let n = samples as u128 * self.num as u128;
        let d = sample_rate.max(1) as u128 * self.den as u128;
        ((2 * n + d) / (2 * d)) as u64
    }
}

impl std::fmt::Display for Fps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Container the frames are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// H.264 + AAC in MP4, through ffmpeg.
    Mp4,
    /// Animated GIF (no sound), no ffmpeg needed.
    Gif,
    /// A folder of PNG frames plus `audio.wav`, no ffmpeg needed.
    PngSequence,
}

impl OutputFormat {
    /// Parses a format name: `mp4`, `gif` or `png`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mp4" => Ok(Self::Mp4),
            "gif" => Ok(Self::Gif),
            "png" | "png-sequence" | "frames" => Ok(Self::PngSequence),
            other => Err(Error::Input(format!(
                "unknown output format {other:?}; use mp4, gif or png"
            ))),
        }
    }

    /// Picks the format from the output path's extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("mp4") | Some("m4v") | Some("mov") => Ok(Self::Mp4),
            Some("gif") => Ok(Self::Gif),
            None => Ok(Self::PngSequence),
            Some("webp") => Err(Error::output(
                path,
                "animated WebP output is not supported yet; use .gif, or .mp4 with ffmpeg",
            )),
            Some(other) => Err(Error::output(
                path,
                format!(
                    "unknown output extension .{other}; use .mp4, .gif, or a folder name \
                     (PNG frames + WAV)"
                ),
            )),
        }
    }
}

/// A streaming destination for RGB24 frames.
pub trait FrameSink {
    /// Appends one tightly packed RGB24 frame.
    fn write_frame(&mut self, rgb: &[u8]) -> Result<()>;
    /// Completes the file and moves it to its final name.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Checks early, before any heavy work, that `path` can be created.
pub fn check_output_writable(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::Output("no output path given".into()));
    }
    let parent = parent_dir(path);
    match std::fs::metadata(&parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::output(
                path,
                format!("{} is not a folder", parent.display()),
            ))
        }
        Err(_) => {
            return Err(Error::output(
                path,
                format!(
                    "output folder {} does not exist; create it first",
                    parent.display()
                ),
            ))
        }
    }
    if path.is_dir() && path.extension().is_some() {
        return Err(Error::output(
            path,
            "is an existing folder, expected a file name",
        ));
    }
    tempfile::Builder::new()
        .prefix(".voxportrait-write-test")
        .tempfile_in(&parent)
        .map(drop)
        .map_err(|e| Error::output(path, format!("cannot write in {}: {e}", parent.display())))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file beside `target`, removed on drop unless persisted.
pub(crate) fn temp_beside(target: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let stem = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let prefix = format!(".{stem}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(suffix);
    // Temporary files are private by default; the finished video should get
    // the usual permissions of a new file (0666 minus the umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(parent_dir(target))
        .map_err(|e| Error::output(target, format!("cannot create output: {e}")))
}

/// Moves a finished temporary file to its final name.
pub(crate) fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<()> {
    tmp.persist(target)
        .map(drop)
        .map_err(|e| Error::output(target, format!("cannot save: {}", e.error)))
}

/// A working ffmpeg binary and the H.264 encoder it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    /// Path of the binary.
    pub path: PathBuf,
    /// H.264 encoder name (`libx264` preferred, else `libopenh264`).
    pub h264_encoder: String,
}

impl Ffmpeg {
    /// Runs `path -encoders` and accepts it if an H.264 encoder is listed.
    pub fn probe(path: &Path) -> std::result::Result<Self, String> {
        let out = Command::new(path)
            .args(["-hide_banner", "-nostdin", "-encoders"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run: {e}"))?;
        if !out.status.success() {
            return Err(format!("exited with {}", out.status));
        }
        let list = String::from_utf8_lossy(&out.stdout);
        let has = |name: &str| {
            list.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name))
        };
        for enc in ["libx264", "libopenh264"] {
            if has(enc) {
                return Ok(Self {
                    path: path.to_path_buf(),
                    h264_encoder: enc.to_string(),
                });
            }
        }
        Err("has no H.264 encoder (libx264 or libopenh264)".into())
    }
}

/// Finds ffmpeg: the explicit path, then `$VOXPORTRAIT_FFMPEG`, then the
/// `candidates` (e.g. the binary bundled with the imageio-ffmpeg package),
/// then `ffmpeg` on PATH. An explicit path or environment variable that
/// does not work is an error rather than silently skipped.
pub fn find_ffmpeg(explicit: Option<&Path>, candidates: &[PathBuf]) -> Result<Ffmpeg> {
    let advice = "install one (pip install imageio-ffmpeg, or your system's ffmpeg package), \
                  point VOXPORTRAIT_FFMPEG at it, or write a GIF (-o out.gif) or PNG frames + WAV \
                  (--format png), which need no ffmpeg";
    if let Some(p) = explicit {
        return Ffmpeg::probe(p)
            .map_err(|why| Error::Encoder(format!("ffmpeg at {} {why}; {advice}", p.display())));
    }
    if let Some(p) = std::env::var_os(FFMPEG_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return Ffmpeg::probe(&p).map_err(|why| {
            Error::Encoder(format!("{FFMPEG_ENV}={} {why}; {advice}", p.display()))
        });
    }
    let mut tried = Vec::new();
    for p in candidates
        .iter()
        .cloned()
        .chain(std::iter::once(PathBuf::from("ffmpeg")))
    {
        match Ffmpeg::probe(&p) {
            Ok(f) => return Ok(f),
            Err(why) => tried.push(format!("{} ({why})", p.display())),
        }
    }
    Err(Error::Encoder(format!(
        "no working ffmpeg found, tried {}; {advice}",
        tried.join(", ")
    )))
}

/// Streams frames into ffmpeg, producing H.264 yuv420p + AAC MP4.
pub struct Mp4Sink {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr: Option<JoinHandle<String>>,
    tmp: Option<tempfile::NamedTempFile>,
    _audio_dir: Option<tempfile::TempDir>,
    target: PathBuf,
    frame_bytes: usize,
}

impl Mp4Sink {
    /// Starts ffmpeg writing `width`×`height` (both even) frames at `fps`,
    /// muxing `audio` (if any) as AAC, into a temporary file beside `target`.
    pub fn create(
        ffmpeg: &Ffmpeg,
        target: &Path,
        width: u32,
        height: u32,
        fps: Fps,
        audio: Option<Soundtrack>,
    ) -> Result<Self> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(Error::Input(format!(
                "H.264 needs even frame sides, got {width}x{height}"
            )));
        }
        let tmp = temp_beside(target, ".part.mp4")?;
        let mut cmd = Command::new(&ffmpeg.path);
        cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
        cmd.args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &format!("{width}x{height}"),
        ]);
        cmd.args(["-framerate", &fps.to_string(), "-i", "pipe:0"]);
        let audio_dir = match audio {
            Some(track) => {
                let dir = tempfile::tempdir()
                    .map_err(|e| Error::Output(format!("cannot create a temporary folder: {e}")))?;
                let wav = dir.path().join("audio.wav");
                track.write_wav(&wav)?;
                cmd.arg("-i").arg(&wav);
                Some(dir)
            }
            None => None,
        };
        cmd.args(["-map", "0:v:0"]);
        cmd.args(["-c:v", &ffmpeg.h264_encoder, "-pix_fmt", "yuv420p"]);
        if ffmpeg.h264_encoder == "libx264" {
            cmd.args(["-preset", "veryfast", "-crf", "18", "-profile:v", "high"]);
        }
        cmd.args(["-r", &fps.to_string(), "-fps_mode", "cfr"]);
        if audio_dir.is_some() {
            cmd.args([
                "-map", "1:a:0", "-c:a", "aac", "-b:a", "160k", "-ar", "48000",
            ]);
        }
        cmd.args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(tmp.path());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            Error::Encoder(format!(
                "cannot start ffmpeg at {}: {e}",
                ffmpeg.path.display()
            ))
        })?;
        let stdin = child.stdin.take();
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        Ok(Self {
            child: Some(child),
            stdin,
            stderr: Some(stderr),
            tmp: Some(tmp),
            _audio_dir: audio_dir,
            target: target.to_path_buf(),
            frame_bytes: (width * height * 3) as usize,
        })
    }

    /// Waits for ffmpeg and returns its exit status with the last stderr lines.
    fn wait(&mut self) -> (bool, String) {
        drop(self.stdin.take());
        let ok = self
            .child
            .take()
            .and_then(|mut c| c.wait().ok())
            .map(|s| s.success())
            .unwrap_or(false);
        let log = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        (ok, tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

impl FrameSink for Mp4Sink {
    fn write_frame(&mut self, rgb: &[u8]) -> Result<()> {
        assert_eq!(rgb.len(), self.frame_bytes, "frame size");
        let stdin = self.stdin.as_mut().expect("sink open");
        if let Err(e) = stdin.write_all(rgb) {
            let (_, log) = self.wait();
            return Err(Error::Encoder(format!(
                "ffmpeg stopped while encoding ({e}): {log}"
            )));
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let (ok, log) = self.wait();
        if !ok {
            return Err(Error::Encoder(format!(
                "ffmpeg failed to write the MP4: {log}"
            )));
        }
        persist(self.tmp.take().expect("temp file"), &self.target)
    }
}

impl Drop for Mp4Sink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Streams frames into an animated GIF (no audio; GIF has none).
pub struct GifSink {
    encoder: Option<image::codecs::gif::GifEncoder<BufWriter<File>>>,
    tmp: Option<tempfile::NamedTempFile>,
    target: PathBuf,
    width: u32,
    height: u32,
    fps: Fps,
    frames: u64,
}

impl GifSink {
    /// Opens a temporary GIF beside `target`.
    pub fn create(target: &Path, width: u32, height: u32, fps: Fps) -> Result<Self> {
        use image::codecs::gif::{GifEncoder, Repeat};
        let tmp = temp_beside(target, ".part.gif")?;
        let file = tmp.reopen().map_err(|e| Error::output(target, e))?;
        let mut encoder = GifEncoder::new_with_speed(BufWriter::new(file), 20);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|e| Error::output(target, format!("cannot write GIF: {e}")))?;
        Ok(Self {
            encoder: Some(encoder),
            tmp: Some(tmp),
            target: target.into(),
            width,
            height,
            fps,
            frames: 0,
        })
    }

    /// Centiseconds at which frame `i` starts (GIF timing has 10 ms steps;
    /// rounding each start keeps the total exact).
    fn start_cs(&self, i: u64) -> u64 {
        (i * 100 * self.fps.den() as u64 * 2 + self.fps.num() as u64) / (2 * self.fps.num() as u64)
    }
}

impl FrameSink for GifSink {
    fn write_frame(&mut self, rgb: &[u8]) -> Result<()> {
        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let buf = image::RgbaImage::from_raw(self.width, self.height, rgba).expect("frame size");
        let cs = self.start_cs(self.frames + 1) - self.start_cs(self.frames);
        let delay = image::Delay::from_numer_denom_ms(cs as u32 * 10, 1);
        self.frames += 1;
        self.encoder
            .as_mut()
            .expect("sink open")
            .encode_frame(image::Frame::from_parts(buf, 0, 0, delay))
            .map_err(|e| Error::output(&self.target, format!("cannot write GIF: {e}")))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        drop(self.encoder.take()); // writes the trailer and flushes
        persist(self.tmp.take().expect("temp file"), &self.target)
    }
}

/// Writes `frame_000001.png`, ... plus `audio.wav` into a folder.
pub struct PngSequenceSink {
    dir: Option<tempfile::TempDir>,
    target: PathBuf,
    width: u32,
    height: u32,
    frames: u64,
}

impl PngSequenceSink {
    /// Prepares a temporary folder beside `target` (which must not exist, or be empty).
    pub fn create(
        target: &Path,
        width: u32,
        height: u32,
        audio: Option<Soundtrack>,
    ) -> Result<Self> {
        if let Ok(mut entries) = std::fs::read_dir(target) {
            if entries.next().is_some() {
                return Err(Error::output(
                    target,
                    "folder exists and is not empty; choose a new folder",
                ));
            }
        } else if target.exists() {
            return Err(Error::output(target, "exists and is not a folder"));
        }
        let stem = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("frames");
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{stem}.part"))
            .tempdir_in(parent_dir(target))
            .map_err(|e| Error::output(target, format!("cannot create folder: {e}")))?;
        if let Some(track) = audio {
            track.write_wav(&dir.path().join("audio.wav"))?;
        }
        Ok(Self {
            dir: Some(dir),
            target: target.into(),
            width,
            height,
            frames: 0,
        })
    }
}

impl FrameSink for PngSequenceSink {
    fn write_frame(&mut self, rgb: &[u8]) -> Result<()> {
        use image::codecs::png::{CompressionType, FilterType, PngEncoder};
        use image::ImageEncoder;
        self.frames += 1;
        let dir = self.dir.as_ref().expect("sink open").path();
        let path = dir.join(format!("frame_{:06}.png", self.frames));
        let file = File::create(&path).map_err(|e| Error::output(&self.target, e))?;
        PngEncoder::new_with_quality(
            BufWriter::new(file),
            CompressionType::Fast,
            FilterType::Adaptive,
        )
        .write_image(rgb, self.width, self.height, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::output(&self.target, format!("cannot write PNG: {e}")))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let dir = self.dir.take().expect("sink open").keep();
        if self.target.is_dir() {
            let _ = std::fs::remove_dir(&self.target); // empty, checked in create
        }
        std::fs::rename(&dir, &self.target).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            Error::output(&self.target, format!("cannot save folder: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioClip;

    #[test]
    fn fps_parses_integers_decimals_and_fractions() {
        assert_eq!(Fps::parse("25").unwrap(), Fps::new(25, 1).unwrap());
        assert_eq!(
            Fps::parse("29.97").unwrap(),
            Fps::new(30_000, 1001).unwrap()
        );
        assert_eq!(
            Fps::parse("23.976").unwrap(),
            Fps::new(24_000, 1001).unwrap()
        );
        assert_eq!(Fps::parse("59.94").unwrap().to_string(), "60000/1001");
        assert_eq!(Fps::parse("12.5").unwrap(), Fps::new(25, 2).unwrap());
        assert_eq!(Fps::parse(" 60/2 ").unwrap().to_string(), "30");
        for bad in ["", "abc", "0", "-5", "1/0", "1000", "nan", "inf"] {
            assert!(Fps::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frame_count_rounds_duration_times_fps() {
        let fps = Fps::new(30_000, 1001).unwrap();
        // 10 s at 29.97 = 299.7 -> 300
        assert_eq!(fps.frame_count(160_000, 16_000), 300);
        assert_eq!(
            Fps::new(25, 1)
                .unwrap()
                .frame_count(16_000 * 3 + 320, 16_000),
            76
        );
        assert_eq!(
            Fps::new(25, 1)
                .unwrap()
                .frame_count(16_000 * 3 + 319, 16_000),
            75
        );
    }

    #[test]
    fn output_format_follows_the_extension() {
        assert_eq!(
            OutputFormat::from_path(Path::new("a/b.MP4")).unwrap(),
            OutputFormat::Mp4
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("b.gif")).unwrap(),
            OutputFormat::Gif
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("frames")).unwrap(),
            OutputFormat::PngSequence
        );
        assert!(OutputFormat::from_path(Path::new("b.webp"))
            .unwrap_err()
            .to_string()
            .contains("WebP"));
        assert!(OutputFormat::from_path(Path::new("b.txt")).is_err());
    }

    #[test]
    fn unwritable_outputs_are_refused_early() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, "x").unwrap();
        let e = check_output_writable(&dir.path().join("missing/out.mp4")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = check_output_writable(&file.join("out.mp4")).unwrap_err();
        assert!(e.to_string().contains("not a folder"), "{e}");
        check_output_writable(&dir.path().join("out.mp4")).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no probe file left"
        );
    }

    fn frames(n: usize, w: u32, h: u32) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| vec![(i * 20 % 256) as u8; (w * h * 3) as usize])
            .collect()
    }

    #[test]
    fn gif_has_exact_total_duration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gif");
        let fps = Fps::new(30_000, 1001).unwrap();
        let mut sink: Box<dyn FrameSink> = Box::new(GifSink::create(&path, 8, 6, fps).unwrap());
        for f in frames(30, 8, 6) {
            sink.write_frame(&f).unwrap();
        }
        sink.finish().unwrap();
        use image::AnimationDecoder;
        let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
            File::open(&path).unwrap(),
        ))
        .unwrap();
        let decoded = dec.into_frames().collect_frames().unwrap();
        assert_eq!(decoded.len(), 30);
        let total_ms: u32 = decoded
            .iter()
            .map(|f| {
                let (n, d) = f.delay().numer_denom_ms();
                n / d
            })
            .sum();
        assert_eq!(total_ms, 1000); // 30 frames at 29.97 fps = 1.001 s -> 100 cs
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode & 0o044,
                0o044,
                "finished output is readable by others: {mode:o}"
            );
        }
    }

    #[test]
    fn png_sequence_writes_frames_and_audio() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("frames");
        let clip = AudioClip::new(vec![0.1; 1600], 16_000);
        let mut sink: Box<dyn FrameSink> = Box::new(
            PngSequenceSink::create(&target, 8, 6, Some(Soundtrack::Clip(&clip))).unwrap(),
        );
        for f in frames(3, 8, 6) {
            sink.write_frame(&f).unwrap();
        }
        sink.finish().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "audio.wav",
                "frame_000001.png",
                "frame_000002.png",
                "frame_000003.png"
            ]
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_sink_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gif");
        {
            let mut sink = GifSink::create(&path, 8, 6, Fps::new(25, 1).unwrap()).unwrap();
            sink.write_frame(&frames(1, 8, 6)[0]).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_bad_explicit_ffmpeg_is_reported() {
        let e = find_ffmpeg(Some(Path::new("/nonexistent/ffmpeg")), &[]).unwrap_err();
        assert!(matches!(e, Error::Encoder(_)));
        assert!(e.to_string().contains("/nonexistent/ffmpeg"), "{e}");
        assert!(e.to_string().contains("GIF"), "{e}");
    }

    /// Encodes a short MP4 when an ffmpeg can be found (the test script
    /// points VOXPORTRAIT_FFMPEG at the one pip installs).
    #[test]
    fn mp4_sink_encodes_when_ffmpeg_is_available() {
        let Ok(ffmpeg) = find_ffmpeg(None, &[]) else {
            eprintln!("no ffmpeg here: MP4 encoding is covered by the Python end-to-end tests");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        let clip = AudioClip::new(vec![0.0; 16_000], 16_000);
        let mut sink: Box<dyn FrameSink> = Box::new(
            Mp4Sink::create(
                &ffmpeg,
                &path,
                16,
                16,
                Fps::new(25, 1).unwrap(),
                Some(Soundtrack::Clip(&clip)),
            )
            .unwrap(),
        );
        for f in frames(25, 16, 16) {
            sink.write_frame(&f).unwrap();
        }
        sink.finish().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 500, "mp4 is {size} bytes");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

/// What [`probe_video`] learned about an input video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width, pixels (as decoded, after any rotation ffmpeg applies).
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Average frame rate as reported by the container (variable-rate
    /// inputs are resampled to a constant rate when read).
    pub fps: Fps,
    /// Duration in seconds, when known.
    pub duration: Option<f64>,
    /// Whether the file has an audio stream.
    pub has_audio: bool,
}

/// Reads a video's size, rate, duration and audio presence from ffmpeg's
/// description of the input (`ffmpeg -i FILE` with no output).
///
/// ffmpeg is the only decoder the product has (imageio-ffmpeg's binary has
/// no ffprobe beside it), so its stream summary is parsed here.
pub fn probe_video(ffmpeg: &Ffmpeg, path: &Path) -> Result<VideoInfo> {
    if !path.is_file() {
        return Err(Error::input(path, "video file not found; check the path"));
    }
    let out = Command::new(&ffmpeg.path)
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| Error::Encoder(format!("cannot run ffmpeg: {e}")))?;
    parse_video_info(&String::from_utf8_lossy(&out.stderr)).ok_or_else(|| {
        Error::input(
            path,
            "not a readable video (ffmpeg found no video stream); use an MP4, MOV, MKV or WebM file",
        )
    })
}

/// Parses ffmpeg's input summary (see [`probe_video`]).
fn parse_video_info(text: &str) -> Option<VideoInfo> {
    let video = text
        .lines()
        .find(|l| l.trim_start().starts_with("Stream #") && l.contains("Video:"))?;
    let after = &video[video.find("Video:")? + 6..];
    // The first token shaped WxH with both numbers.
    let (width, height) = after
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|tok| {
            let (a, b) = tok.split_once('x')?;
            Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?))
        })?;
    let rate = |unit: &str| {
        after.split(',').find_map(|part| {
            let p = part.trim();
            p.strip_suffix(unit)
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
    };
    let fps_value = rate(" fps").or_else(|| rate(" tbr")).unwrap_or(25.0);
    let fps = Fps::parse(&format!("{fps_value}")).ok()?;
    let duration = text.lines().find_map(|l| {
        let d = l.trim_start().strip_prefix("Duration:")?.trim();
        let hms = d.split(',').next()?.trim();
        let mut it = hms.split(':');
        let (h, m, s) = (it.next()?, it.next()?, it.next()?);
        Some(
            h.parse::<f64>().ok()? * 3600.0
                + m.parse::<f64>().ok()? * 60.0
                + s.parse::<f64>().ok()?,
        )
    });
    let has_audio = text
        .lines()
        .any(|l| l.trim_start().starts_with("Stream #") && l.contains("Audio:"));
    (width > 0 && height > 0).then_some(VideoInfo {
        width,
        height,
        fps,
        duration,
        has_audio,
    })
}

/// Decodes a video's frames one at a time through an ffmpeg process, as
/// RGB24 at a constant frame rate (variable-rate input is resampled), so
/// memory does not grow with the video's length.
pub struct VideoReader {
    child: Option<Child>,
    stdout: std::process::ChildStdout,
    stderr: Option<JoinHandle<String>>,
    /// The input's properties.
    pub info: VideoInfo,
    frame_bytes: usize,
}

impl VideoReader {
    /// Opens `path`, decoding at `fps` (the input's own rate when `None`).
    pub fn open(ffmpeg: &Ffmpeg, path: &Path, fps: Option<Fps>) -> Result<Self> {
        let mut info = probe_video(ffmpeg, path)?;
        if let Some(f) = fps {
            info.fps = f;
        }
        let mut cmd = Command::new(&ffmpeg.path);
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-an", "-sn"])
            .args(["-vf", &format!("fps={}", info.fps)])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Encoder(format!("cannot start ffmpeg: {e}")))?;
        let stdout = child.stdout.take().expect("stdout piped");
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let frame_bytes = info.width as usize * info.height as usize * 3;
        Ok(Self {
            child: Some(child),
            stdout,
            stderr: Some(stderr),
            info,
            frame_bytes,
        })
    }

    /// Reads the next frame into `buf` (resized to `width*height*3`);
    /// `Ok(false)` at the end of the video.
    pub fn read_frame(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.resize(self.frame_bytes, 0);
        let mut filled = 0;
        while filled < self.frame_bytes {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Encoder(format!(
                        "reading decoded frames failed: {e}"
                    )))
                }
            }
        }
        if filled == self.frame_bytes {
            return Ok(true);
        }
        let Some(mut child) = self.child.take() else {
            return Ok(false); // already at the end
        };
        let status = child.wait().ok();
        let log = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match status {
            Some(s) if s.success() => Ok(false),
            _ => Err(Error::Encoder(format!(
                "ffmpeg failed to decode the video: {}",
                log.lines().rev().take(2).collect::<Vec<_>>().join(" | ")
            ))),
        }
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn parses_ffmpegs_stream_summary() {
        let text = "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n  Duration: 00:01:02.50, start: 0.000000, bitrate: 300 kb/s\n  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9], 151 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)\n  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 160 kb/s (default)\n";
        let info = parse_video_info(text).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.fps, Fps::new(30000, 1001).unwrap());
        assert!((info.duration.unwrap() - 62.5).abs() < 1e-9);
        assert!(info.has_audio);
        let silent = text.replace("Stream #0:1[0x2](und): Audio", "Stream #0:1: Data");
        assert!(!parse_video_info(&silent).unwrap().has_audio);
        assert!(
            parse_video_info("Input #0, wav, from 'a.wav':\n  Stream #0:0: Audio: pcm_s16le")
                .is_none()
        );
    }
}
