//! Audio stage: decode speech from common formats into mono `f32`, and resample.
//!
//! WAV goes through `hound` (exact and fast); everything else, and WAV
//! variants hound rejects (ADPCM, odd headers), goes through `symphonia`.
//! Channels are averaged into mono because every later stage listens to one
//! voice. Resampling uses `rubato`'s FFT resampler, which is both fast and of
//! high quality for the fixed ratios we need.

pub mod mel;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{check_input_file, Error, Result};

/// Longest audio accepted by default where the whole clip is held in
/// memory (loading audio, `dub`'s new speech), in seconds (10 minutes).
///
/// The whole clip is held as mono `f32` (about 115 MB at 48 kHz for the
/// limit), while video frames stream; raise it with
/// [`LoadOptions::max_seconds`] for longer jobs.
pub const DEFAULT_MAX_SECONDS: f64 = 600.0;

/// Longest audio accepted by default where it streams (`animate`, motion
/// from a file), in seconds (6 hours). Memory does not grow with the
/// length there (audio is analysed a minute at a time, the soundtrack is
/// copied to the encoder through a temporary WAV); the limit only stops a
/// wrong file (a whole album, a day-long recording) from running for hours.
pub const STREAMING_MAX_SECONDS: f64 = 6.0 * 3600.0;

/// Peak level below which a clip counts as silent (-60 dBFS).
pub const SILENCE_PEAK: f32 = 0.001;

/// Mono audio samples in -1..1 at a known sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioClip {
    /// Mono samples, nominally in -1..1.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl AudioClip {
    /// Wraps mono samples.
    pub fn new(samples: Vec<f32>, sample_rate: u32) -> Self {
        Self {
            samples,
            sample_rate,
        }
    }

    /// Averages interleaved multi-channel samples into mono.
    pub fn from_interleaved(interleaved: &[f32], channels: usize, sample_rate: u32) -> Self {
        Self::new(downmix(interleaved, channels), sample_rate)
    }

    /// Length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate.max(1) as f64
    }

    /// Largest absolute sample value.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// True when nothing in the clip rises above [`SILENCE_PEAK`].
    pub fn is_silent(&self) -> bool {
        self.peak() < SILENCE_PEAK
    }
}

/// Options for [`load`].
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Refuse clips longer than this many seconds (see [`DEFAULT_MAX_SECONDS`]).
    pub max_seconds: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

/// Decodes an audio file into mono at its own sample rate.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<AudioClip> {
    let (mut mono, mut rate) = (Vec::new(), 0);
    stream_mono(path, opts, &mut |chunk, r| {
        mono.extend_from_slice(chunk);
        rate = r;
        Ok(())
    })?;
    if mono.is_empty() {
        return Err(Error::input(path, "contains no audio samples (0 s long)"));
    }
    Ok(AudioClip::new(mono, rate))
}

/// Decodes an audio file as [`load`] does, but hands the mono samples to
/// `sink(chunk, sample_rate)` a packet (or a few thousand frames) at a time
/// instead of holding them, so hour-long audio needs no more memory than
/// its consumer keeps. An error from `sink` stops decoding and is returned.
pub fn stream_mono(
    path: &Path,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(&[f32], u32) -> Result<()>,
) -> Result<()> {
    check_input_file(path, "audio")?;
    if is_riff_wave(path) {
        let mut emitted = false;
        let done = stream_wav_hound(path, opts, &mut |chunk, rate| {
            emitted = true;
            sink(chunk, rate)
        });
        match done {
            Ok(()) => return Ok(()),
            // Too-long clips are final, as is anything after samples went
            // out; other hound refusals may be WAV flavours symphonia reads.
            Err(e @ Error::Input(_)) if e.to_string().contains("limit") => return Err(e),
            Err(e) if emitted => return Err(e),
            Err(_) => {}
        }
    }
    stream_symphonia(path, opts, sink)
}

/// Decodes an audio file and resamples it to `sample_rate`.
pub fn load_resampled(path: &Path, sample_rate: u32, opts: &LoadOptions) -> Result<AudioClip> {
    resample(&load(path, opts)?, sample_rate)
}

/// Resamples a clip to `sample_rate` with rubato's FFT resampler.
///
/// The output has `round(len * to / from)` samples and is aligned with the
/// input (rubato trims its startup delay).
pub fn resample(clip: &AudioClip, sample_rate: u32) -> Result<AudioClip> {
    use rubato::audioadapter::Adapter;
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};

    if sample_rate == 0 || clip.sample_rate == 0 {
        return Err(Error::Input("sample rate must be positive".into()));
    }
    if clip.sample_rate == sample_rate || clip.samples.is_empty() {
        return Ok(AudioClip::new(clip.samples.clone(), sample_rate));
    }
    let internal = |e: &dyn std::fmt::Display| {
        Error::Input(format!(
            "cannot resample audio from {} Hz to {} Hz: {e}",
            clip.sample_rate, sample_rate
        ))
    };
    let mut resampler = Fft::<f32>::new(
        clip.sample_rate as usize,
        sample_rate as usize,
        1024,
        1,
        FixedSync::Both,
    )
    .map_err(|e| internal(&e))?;
    let input =
        InterleavedSlice::new(&clip.samples, 1, clip.samples.len()).map_err(|e| internal(&e))?;
    let output = resampler
        .process_all(&input, input.frames(), None)
        .map_err(|e| internal(&e))?;
    let mut samples = output.take_data();
    let expected = (clip.samples.len() as u64 * sample_rate as u64 + clip.sample_rate as u64 / 2)
        / clip.sample_rate as u64;
    samples.resize(expected as usize, 0.0);
    Ok(AudioClip::new(samples, sample_rate))
}

/// Where an output's soundtrack comes from.
#[derive(Debug, Clone, Copy)]
pub enum Soundtrack<'a> {
    /// Samples in memory (a host's audio, a dub's new speech).
    Clip(&'a AudioClip),
    /// An audio file, decoded again a chunk at a time when the soundtrack is
    /// written: never held in memory whole.
    File(&'a Path, &'a LoadOptions),
}

impl Soundtrack<'_> {
    /// Writes the soundtrack as 16-bit PCM mono WAV at `dest` (for muxing
    /// and the PNG+WAV output).
    pub fn write_wav(&self, dest: &Path) -> Result<()> {
        match *self {
            Soundtrack::Clip(clip) => write_wav(dest, clip),
            Soundtrack::File(src, opts) => stream_to_wav(src, opts, dest),
        }
    }
}

/// Decodes `src` a chunk at a time into 16-bit PCM mono WAV at `dest`, so a
/// soundtrack of any length is copied in constant memory.
pub fn stream_to_wav(src: &Path, opts: &LoadOptions, dest: &Path) -> Result<()> {
    let io = |e: hound::Error| Error::output(dest, format!("cannot write WAV: {e}"));
    let mut writer: Option<hound::WavWriter<_>> = None;
    stream_mono(src, opts, &mut |chunk, rate| {
        if writer.is_none() {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            writer = Some(hound::WavWriter::create(dest, spec).map_err(io)?);
        }
        let w = writer.as_mut().expect("created above");
        for &s in chunk {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .map_err(io)?;
        }
        Ok(())
    })?;
    match writer {
        Some(w) => w.finalize().map_err(io),
        None => Err(Error::input(src, "contains no audio samples (0 s long)")),
    }
}

/// Writes a clip as 16-bit PCM mono WAV (for muxing and the PNG+WAV output).
pub fn write_wav(path: &Path, clip: &AudioClip) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: clip.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| Error::output(path, format!("cannot write WAV: {e}"));
    let mut writer = hound::WavWriter::create(path, spec).map_err(io)?;
    for &s in &clip.samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        writer.write_sample(v).map_err(io)?;
    }
    writer.finalize().map_err(io)
}

/// Averages interleaved channels into one.
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    let inv = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() * inv)
        .collect()
}

/// Human-readable duration such as "12 min 3 s".
fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{seconds:.1} s")
    }
}

/// The error for a clip longer than the configured limit.
fn too_long(path: &Path, seconds: f64, opts: &LoadOptions) -> Error {
    Error::input(
        path,
        format!(
            "audio is {} long, over the {} limit; split it, or raise the limit \
             (--max-audio-seconds)",
            format_duration(seconds),
            format_duration(opts.max_seconds)
        ),
    )
}

/// Sniffs the RIFF/WAVE magic rather than trusting the extension.
fn is_riff_wave(path: &Path) -> bool {
    let mut head = [0u8; 12];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[0..4] == b"RIFF"
        && &head[8..12] == b"WAVE"
}

/// Frames per chunk handed out of a WAV file.
const WAV_CHUNK: usize = 8192;

fn stream_wav_hound(
    path: &Path,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(&[f32], u32) -> Result<()>,
) -> Result<()> {
    let bad = |e: hound::Error| Error::input(path, format!("unreadable WAV: {e}"));
    let reader = hound::WavReader::new(BufReader::new(
        File::open(path).map_err(|e| Error::input(path, format!("cannot open audio file: {e}")))?,
    ))
    .map_err(bad)?;
    let spec = reader.spec();
    if spec.sample_rate == 0 || spec.channels == 0 {
        return Err(Error::input(
            path,
            "WAV header has a zero sample rate or channel count",
        ));
    }
    let seconds = reader.duration() as f64 / spec.sample_rate as f64;
    if seconds > opts.max_seconds {
        return Err(too_long(path, seconds, opts));
    }
    let channels = spec.channels as usize;
    let mut interleaved: Vec<f32> = Vec::with_capacity(WAV_CHUNK * channels);
    let mut flush = |buf: &mut Vec<f32>| -> Result<()> {
        if !buf.is_empty() {
            sink(&downmix(buf, channels), spec.sample_rate)?;
            buf.clear();
        }
        Ok(())
    };
    let samples: Box<dyn Iterator<Item = hound::Result<f32>>> = match spec.sample_format {
        hound::SampleFormat::Float => Box::new(reader.into_samples::<f32>()),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.max(1) - 1)) as f32;
            Box::new(
                reader
                    .into_samples::<i32>()
                    .map(move |s| s.map(|v| v as f32 * scale)),
            )
        }
    };
    for v in samples {
        interleaved.push(v.map_err(bad)?);
        if interleaved.len() == WAV_CHUNK * channels {
            flush(&mut interleaved)?;
        }
    }
    // A trailing partial frame (a truncated file) is dropped, as before.
    interleaved.truncate(interleaved.len() / channels * channels);
    flush(&mut interleaved)
}

fn stream_symphonia(
    path: &Path,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(&[f32], u32) -> Result<()>,
) -> Result<()> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error as SymError;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let not_audio = || {
        Error::input(
            path,
            "not a recognised audio file (supported: WAV, MP3, FLAC, OGG/Vorbis, M4A/AAC)",
        )
    };
    let file = File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|_| not_audio())?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(not_audio)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(not_audio)?;
    if let (Some(frames), Some(rate)) = (track.num_frames, params.sample_rate) {
        let seconds = frames as f64 / rate.max(1) as f64;
        if seconds > opts.max_seconds {
            return Err(too_long(path, seconds, opts));
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| Error::input(path, format!("unsupported audio codec: {e}")))?;

    let mut decoded = 0usize;
    let mut rate = params.sample_rate.unwrap_or(0);
    let mut scratch: Vec<f32> = Vec::new();
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated file ends the stream; keep what was decoded.
            Err(SymError::IoError(_)) | Err(SymError::ResetRequired) => break,
            Err(e) => return Err(Error::input(path, format!("corrupt audio stream: {e}"))),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let channels = buf.spec().channels().count().max(1);
                rate = buf.spec().rate();
                buf.copy_to_vec_interleaved(&mut scratch);
                let mono = downmix(&scratch, channels);
                decoded += mono.len();
                if rate > 0 && decoded as f64 / rate as f64 > opts.max_seconds {
                    return Err(too_long(path, decoded as f64 / rate as f64, opts));
                }
                if !mono.is_empty() && rate > 0 {
                    sink(&mono, rate)?;
                }
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => bad_packets += 1,
            Err(e) => return Err(Error::input(path, format!("cannot decode audio: {e}"))),
        }
    }
    if decoded == 0 || rate == 0 {
        return Err(if bad_packets > 0 {
            Error::input(path, "audio stream is corrupt: no packet could be decoded")
        } else {
            not_audio()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::fixture;

    /// A file's soundtrack streamed to WAV is byte for byte the WAV of the
    /// same file loaded whole, for every container; an empty file is an
    /// input error and leaves no WAV.
    #[test]
    fn a_file_soundtrack_streams_to_the_same_wav_as_the_loaded_clip() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "speech_1s.wav",
            "speech_1s.mp3",
            "speech_1s.flac",
            "speech_1s.m4a",
        ] {
            let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
            let opts = LoadOptions::default();
            Soundtrack::File(&fixture(name), &opts)
                .write_wav(&a)
                .unwrap();
            let clip = load(&fixture(name), &opts).unwrap();
            Soundtrack::Clip(&clip).write_wav(&b).unwrap();
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{name}"
            );
        }
        let c = dir.path().join("c.wav");
        let err = stream_to_wav(&fixture("empty.wav"), &LoadOptions::default(), &c).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(!c.exists());
    }

    fn reference() -> AudioClip {
        load_resampled(&fixture("speech_1s.wav"), 16_000, &LoadOptions::default()).unwrap()
    }

    /// Normalised cross-correlation at the best lag within ±`max_lag` samples.
    fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> f32 {
        let mut best = -1.0f32;
        for lag in 0..=2 * max_lag {
            let (x, y) = if lag >= max_lag {
                (&a[lag - max_lag..], b)
            } else {
                (a, &b[max_lag - lag..])
            };
            let n = x.len().min(y.len());
            let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..n {
                xy += (x[i] * y[i]) as f64;
                xx += (x[i] * x[i]) as f64;
                yy += (y[i] * y[i]) as f64;
            }
            best = best.max((xy / (xx.sqrt() * yy.sqrt() + 1e-12)) as f32);
        }
        best
    }

    #[test]
    fn every_supported_format_decodes_to_the_same_speech() {
        let reference = reference();
        let seconds = reference.duration_seconds();
        for name in [
            "speech_1s_f32.wav",
            "speech_1s.mp3",
            "speech_1s.flac",
            "speech_1s.ogg",
            "speech_1s.m4a",
        ] {
            let clip = load_resampled(&fixture(name), 16_000, &LoadOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // Lossy codecs add encoder delay/padding of a few tens of ms.
            assert!(
                (clip.duration_seconds() - seconds).abs() < 0.08,
                "{name}: {} s vs {} s",
                clip.duration_seconds(),
                seconds
            );
            let corr = best_correlation(&reference.samples, &clip.samples, 1600);
            assert!(corr > 0.9, "{name}: correlation {corr}");
        }
    }

    #[test]
    fn stereo_is_downmixed_to_mono() {
        let clip = load(&fixture("speech_1s.wav"), &LoadOptions::default()).unwrap();
        assert_eq!(clip.sample_rate, 44_100);
        let reader = hound::WavReader::open(fixture("speech_1s.wav")).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(clip.samples.len() as u32, reader.duration());
    }

    #[test]
    fn resampling_keeps_a_tone_at_its_frequency() {
        let rate = 44_100u32;
        let tone: Vec<f32> = (0..rate)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5)
            .collect();
        let out = resample(&AudioClip::new(tone, rate), 16_000).unwrap();
        assert_eq!(out.samples.len(), 16_000);
        // Count zero crossings in the middle to estimate frequency.
        let mid = &out.samples[2000..14_000];
        let crossings = mid.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        let freq = crossings as f32 / (mid.len() as f32 / 16_000.0);
        assert!((freq - 440.0).abs() < 3.0, "frequency {freq}");
        let peak = mid.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn silence_is_detected() {
        let clip = load(&fixture("silence_1s.wav"), &LoadOptions::default()).unwrap();
        assert!(clip.is_silent());
        assert!(!reference().is_silent());
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let msg = |name: &str| {
            load(&fixture(name), &LoadOptions::default())
                .unwrap_err()
                .to_string()
        };
        assert!(msg("empty.wav").contains("empty (0 bytes)"));
        assert!(msg("not_audio.wav").contains("not a recognised audio file"));
        assert!(msg("does_not_exist.wav").contains("not found"));
        let long = load(&fixture("speech_1s.mp3"), &LoadOptions { max_seconds: 0.5 }).unwrap_err();
        assert!(long.to_string().contains("limit"), "{long}");
        let long = load(&fixture("speech_1s.wav"), &LoadOptions { max_seconds: 0.5 }).unwrap_err();
        assert!(long.to_string().contains("limit"), "{long}");
    }

    #[test]
    fn wav_round_trips_through_write_wav() {
        let clip = reference();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        write_wav(&path, &clip).unwrap();
        let back = load(&path, &LoadOptions::default()).unwrap();
        assert_eq!(back.samples.len(), clip.samples.len());
        let err = clip
            .samples
            .iter()
            .zip(&back.samples)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-3);
    }
}
