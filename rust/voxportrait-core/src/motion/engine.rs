//! The audio → motion stage as one call: viseme posteriors (learned or
//! model-free engine) → segments → coarticulated mouth, plus procedural
//! head motion, blinks and brow raises from the prosody, at any fps.

use super::blink::{blink_track, brow_track, BlinkOptions, BrowOptions};
use super::coarticulation::{mouth_track, CoarticulationOptions};
use super::head::{head_track, HeadOptions};
use super::prosody::{self, Prosody};
use super::visemes::{decode, DecodeOptions, Posterior, VisemeSegment, VISEME_RATE};
use super::{MotionFrame, MotionTrack};
use crate::audio::AudioClip;
use crate::error::{Error, Result};
use crate::video::Fps;

/// Which viseme engine listens to the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisemeEngine {
    /// Whisper tiny.en encoder + the trained viseme head (English-trained;
    /// the better one on speech, see `models/viseme_head.md`).
    Learned,
    /// Model-free: energy, spectral tilt and band ratios. Any language,
    /// singing, and the fallback without the learned weights.
    Energy,
}

impl VisemeEngine {
    /// Every engine, default first.
    pub const ALL: [VisemeEngine; 2] = [VisemeEngine::Learned, VisemeEngine::Energy];

    /// The name used on the command line and in the APIs.
    pub fn name(self) -> &'static str {
        match self {
            VisemeEngine::Learned => "learned",
            VisemeEngine::Energy => "energy",
        }
    }

    /// Parses [`VisemeEngine::name`]; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown viseme engine {name:?}; choose one of: learned, energy"
                ))
            })
    }

    /// 50 Hz viseme posteriors of `clip`.
    pub fn posteriors(self, clip: &AudioClip) -> Result<Vec<Posterior>> {
        match self {
            VisemeEngine::Learned => {
                super::recognizer::VisemeRecognizer::shared()?.posteriors(clip)
            }
            VisemeEngine::Energy => Ok(super::energy::viseme_posteriors(clip)),
        }
    }
}

/// Every control of the audio → motion stage.
#[derive(Debug, Clone, Copy)]
pub struct MotionOptions {
    /// Output frame rate (any rational rate).
    pub fps: Fps,
    /// Viseme engine.
    pub engine: VisemeEngine,
    /// Mouth: scale and lead (see [`CoarticulationOptions`]).
    pub mouth: CoarticulationOptions,
    /// Head motion: preset, scale (0 = still) and seed.
    pub head: HeadOptions,
    /// Blinks: rate per minute (0 = off) and seed.
    pub blink: BlinkOptions,
    /// Brow raises on pitch accents.
    pub brow: BrowOptions,
    /// Temporal decoding of the visemes.
    pub decode: DecodeOptions,
}

impl MotionOptions {
    /// Defaults at `fps`: learned engine, natural mouth, calm head, 17
    /// blinks a minute, seed 0.
    pub fn new(fps: Fps) -> Self {
        Self {
            fps,
            engine: VisemeEngine::Learned,
            mouth: CoarticulationOptions::default(),
            head: HeadOptions::default(),
            blink: BlinkOptions::default(),
            brow: BrowOptions::default(),
            decode: DecodeOptions::default(),
        }
    }

    /// Sets one seed for every random part (head, blinks, brows).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.head.seed = seed;
        self.blink.seed = seed.wrapping_add(1);
        self
    }
}

/// The stage's result: the motion plus the visemes behind it, for exports.
#[derive(Debug, Clone)]
pub struct Motion {
    /// Per-frame motion at the requested fps.
    pub track: MotionTrack,
    /// Viseme posteriors at [`VISEME_RATE`].
    pub posteriors: Vec<Posterior>,
    /// Decoded viseme segments.
    pub segments: Vec<VisemeSegment>,
    /// The engine that produced them.
    pub engine: VisemeEngine,
}

/// Audio → motion: `opts.fps.frame_count(...)` frames covering the clip.
pub fn audio_to_motion(clip: &AudioClip, opts: &MotionOptions) -> Result<Motion> {
    let posteriors = opts.engine.posteriors(clip)?;
    let prosody = prosody::analyze(clip);
    let frames = opts
        .fps
        .frame_count(clip.samples.len() as u64, clip.sample_rate);
    Ok(motion_from_analysis(posteriors, &prosody, frames, opts))
}

/// The motion for `frames` video frames from the audio's analysis: the
/// visemes decoded into segments, then mouth, head, blinks and brows.
fn motion_from_analysis(
    posteriors: Vec<Posterior>,
    prosody: &Prosody,
    frames: u64,
    opts: &MotionOptions,
) -> Motion {
    let segments = decode(&posteriors, &opts.decode);
    let track = assemble(&segments, prosody, frames as usize, opts);
    Motion {
        track,
        posteriors,
        segments,
        engine: opts.engine,
    }
}

/// Why audio of `samples` samples peaking at `peak` cannot drive a mouth
/// (it is empty or silent), or `None` when it can. One wording for every
/// way audio reaches the motion stage.
pub fn unusable_speech(samples: usize, peak: f32) -> Option<&'static str> {
    if samples == 0 {
        Some("the audio is empty (no samples); give at least a fraction of a second of speech")
    } else if peak < crate::audio::SILENCE_PEAK {
        Some(
            "the audio is silent (peak below -60 dBFS), so there is nothing to lip-sync; \
             use idle motion for a face without speech",
        )
    } else {
        None
    }
}

/// Audio analysed at once by [`motion_from_file`], seconds (whole seconds,
/// so segment edges fall on the 20 ms viseme and 10 ms prosody grids).
pub const SEGMENT_SECONDS: usize = 60;

/// Audio on each side of a segment analysed with it and then dropped,
/// seconds: context for the encoder windows (2 s), the pitch tracker and
/// the speech gate, so nothing changes at a segment edge but the clip-level
/// statistics (loudness range, median pitch), which become per-minute.
pub const SEGMENT_MARGIN_SECONDS: usize = 5;

/// Audio → motion straight from a file, decoding as it goes: at most one
/// segment of audio ([`SEGMENT_SECONDS`] plus its margins, mono at the
/// file's rate) is held, whatever the length, and what is kept per frame
/// (posteriors, prosody, motion) is small. A file that fits in one segment
/// gives exactly what [`audio_to_motion`] gives for the decoded clip; a
/// longer one is analysed segment by segment and joined at the segment
/// edges (hard cuts on the frame grids, invisible in the motion: see the
/// test). Empty and silent files are input errors naming the file.
pub fn motion_from_file(
    path: &std::path::Path,
    load: &crate::audio::LoadOptions,
    opts: &MotionOptions,
) -> Result<Motion> {
    let a = analyse_file(path, load, opts)?;
    match a.motion {
        Some(m) => Ok(m),
        None => Err(Error::input(
            path,
            unusable_speech(a.samples, a.peak).unwrap_or("the audio has no speech"),
        )),
    }
}

/// What [`analyse_file`] found in one pass over an audio file.
#[derive(Debug, Clone)]
pub struct AnalysedFile {
    /// The motion, or `None` when the file is empty or silent.
    pub motion: Option<Motion>,
    /// Mono samples in the file.
    pub samples: usize,
    /// The file's sample rate (0 when it is empty).
    pub sample_rate: u32,
    /// Largest absolute sample.
    pub peak: f32,
}

/// [`motion_from_file`], except that an empty or silent file is not an
/// error: its length comes back without motion, for callers that animate
/// silence as an idle face. One streaming pass, the same memory bound.
pub fn analyse_file(
    path: &std::path::Path,
    load: &crate::audio::LoadOptions,
    opts: &MotionOptions,
) -> Result<AnalysedFile> {
    let mut seg = Segmenter::new(opts);
    crate::audio::stream_mono(path, load, &mut |chunk, rate| seg.push(chunk, rate))?;
    let motion = if unusable_speech(seg.total, seg.peak).is_some() {
        None
    } else {
        seg.analyse(None)?;
        let frames = opts.fps.frame_count(seg.total as u64, seg.rate);
        Some(motion_from_analysis(
            std::mem::take(&mut seg.posteriors),
            &seg.prosody,
            frames,
            opts,
        ))
    };
    Ok(AnalysedFile {
        motion,
        samples: seg.total,
        sample_rate: seg.rate,
        peak: seg.peak,
    })
}

/// [`motion_from_file`]'s state: the audio not yet analysed (plus the
/// margin before it) and the per-frame results so far.
struct Segmenter<'a> {
    opts: &'a MotionOptions,
    rate: u32,
    /// Samples from `start` on.
    buf: Vec<f32>,
    start: usize,
    /// First sample whose results are not in yet.
    next: usize,
    total: usize,
    peak: f32,
    posteriors: Vec<Posterior>,
    prosody: Prosody,
}

impl<'a> Segmenter<'a> {
    fn new(opts: &'a MotionOptions) -> Self {
        Self {
            opts,
            rate: 0,
            buf: Vec::new(),
            start: 0,
            next: 0,
            total: 0,
            peak: 0.0,
            posteriors: Vec::new(),
            prosody: Prosody::default(),
        }
    }

    fn push(&mut self, chunk: &[f32], rate: u32) -> Result<()> {
        if self.rate != 0 && rate != self.rate {
            return Err(Error::Input(format!(
                "the audio's sample rate changes mid-stream ({} Hz, then {rate} Hz); \
                 convert it to one rate first",
                self.rate
            )));
        }
        self.rate = rate;
        self.total += chunk.len();
        self.peak = chunk.iter().fold(self.peak, |p, s| p.max(s.abs()));
        self.buf.extend_from_slice(chunk);
        let (seg, margin) = (
            SEGMENT_SECONDS * rate as usize,
            SEGMENT_MARGIN_SECONDS * rate as usize,
        );
        while self.total >= self.next + seg + margin {
            self.analyse(Some(self.next + seg))?;
        }
        Ok(())
    }

    /// Analyses the audio from `next` to `end` (to the end of the audio
    /// when `None`, which must be the last call) with the margins around it,
    /// keeps its frames, and drops the samples no later segment needs.
    fn analyse(&mut self, end: Option<usize>) -> Result<()> {
        let rate = self.rate as usize;
        let margin = SEGMENT_MARGIN_SECONDS * rate;
        let from = self.next.saturating_sub(margin);
        let to = end.map_or(self.total, |e| e + margin);
        let clip = AudioClip::new(
            self.buf[from - self.start..to - self.start].to_vec(),
            self.rate,
        );
        let posteriors = self.opts.engine.posteriors(&clip)?;
        let prosody = prosody::analyze(&clip);
        // Whole seconds: exact frame counts on both grids.
        let skip = (self.next - from) / rate;
        let keep = end.map(|e| (e - self.next) / rate);
        let take = |n_per_s: usize, len: usize| {
            let a = (skip * n_per_s).min(len);
            a..keep.map_or(len, |k| (a + k * n_per_s).min(len))
        };
        let v = take(VISEME_RATE as usize, posteriors.len());
        self.posteriors.extend_from_slice(&posteriors[v]);
        let p = take(prosody::RATE as usize, prosody.len());
        self.prosody
            .level_db
            .extend_from_slice(&prosody.level_db[p.clone()]);
        self.prosody
            .activity
            .extend_from_slice(&prosody.activity[p.clone()]);
        self.prosody.f0.extend_from_slice(&prosody.f0[p]);
        let (t0, t_next) = (from as f64 / rate as f64, self.next as f64 / rate as f64);
        let t_end = end.map_or(f64::INFINITY, |e| e as f64 / rate as f64);
        self.prosody.prominences.extend(
            prosody
                .prominences
                .iter()
                .map(|p| prosody::Prominence {
                    time: p.time + t0,
                    ..*p
                })
                .filter(|p| p.time >= t_next && p.time < t_end),
        );
        if let Some(e) = end {
            self.next = e;
            let keep_from = e - margin;
            self.buf.drain(..keep_from - self.start);
            self.start = keep_from;
        }
        Ok(())
    }
}

/// Idle motion for `seconds` with no audio: closed mouth, calm breathing
/// head motion, blinks.
pub fn idle_motion(seconds: f64, opts: &MotionOptions) -> Result<MotionTrack> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 24.0 * 3600.0) {
        return Err(Error::Input(format!(
            "idle length {seconds} s must be between 0 and 24 hours"
        )));
    }
    let frames = (seconds * opts.fps.as_f64()).round().max(1.0) as usize;
    Ok(assemble(&[], &Prosody::silent(seconds), frames, opts))
}

/// Combines mouth, head, blinks and brows into frames.
fn assemble(
    segments: &[VisemeSegment],
    prosody: &Prosody,
    frames: usize,
    opts: &MotionOptions,
) -> MotionTrack {
    let fps = opts.fps;
    let mouth = mouth_track(segments, fps.as_f64(), frames, &opts.mouth);
    let head = head_track(prosody, fps, frames, &opts.head);
    let blinks = blink_track(prosody, fps, frames, &opts.blink);
    let brows = brow_track(prosody, fps, frames, &opts.brow, opts.head.seed ^ 0xB60);
    let frames = (0..frames)
        .map(|i| {
            let mut expression = mouth[i];
            expression.blink_left = blinks[i];
            expression.blink_right = blinks[i];
            expression.brow_raise = brows[i];
            MotionFrame {
                expression,
                head: head[i],
                gaze: None,
            }
        })
        .collect();
    MotionTrack { fps, frames }
}

/// Seconds per viseme posterior frame.
pub const VISEME_FRAME_SECONDS: f64 = 1.0 / VISEME_RATE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::visemes::Viseme;

    fn speech() -> AudioClip {
        crate::audio::load(
            &crate::testdata::example("speech.wav"),
            &crate::audio::LoadOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_short_file_streams_to_exactly_the_in_memory_motion() {
        let opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        let path = crate::testdata::example("speech.wav");
        let streamed = motion_from_file(&path, &Default::default(), &opts).unwrap();
        let whole = audio_to_motion(&speech(), &opts).unwrap();
        assert_eq!(streamed.track, whole.track);
        assert_eq!(streamed.posteriors, whole.posteriors);
    }

    /// 2.5 minutes of speech (three segments) streamed from a file against
    /// the same audio analysed whole: the same frames, visemes and mouth;
    /// nothing jumps at the segment edges.
    #[test]
    fn a_long_file_streams_in_segments_without_seams() {
        let one = speech();
        let n = 150 * one.sample_rate as usize;
        let samples: Vec<f32> = one.samples.iter().copied().cycle().take(n).collect();
        let clip = AudioClip::new(samples, one.sample_rate);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        crate::audio::write_wav(&path, &clip).unwrap();
        let clip = crate::audio::load(&path, &Default::default()).unwrap();
        let opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        let streamed = motion_from_file(&path, &Default::default(), &opts).unwrap();
        let whole = audio_to_motion(&clip, &opts).unwrap();
        assert_eq!(streamed.track.frames.len(), whole.track.frames.len());
        assert!(streamed.posteriors.len().abs_diff(whole.posteriors.len()) <= 1);
        let best = |p: &Posterior| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        let agree = streamed
            .posteriors
            .iter()
            .zip(&whole.posteriors)
            .filter(|(a, b)| best(a) == best(b))
            .count() as f32
            / whole.posteriors.len() as f32;
        let col = |m: &Motion, f: &dyn Fn(&MotionFrame) -> f32| {
            m.track.frames.iter().map(f).collect::<Vec<f32>>()
        };
        let jaw = crate::testdata::correlation(
            &col(&streamed, &|f| f.expression.jaw_open),
            &col(&whole, &|f| f.expression.jaw_open),
        );
        let yaw = crate::testdata::correlation(
            &col(&streamed, &|f| f.head.yaw),
            &col(&whole, &|f| f.head.yaw),
        );
        eprintln!("segmented vs whole: visemes agree {agree:.4}, r(jaw) {jaw:.4}, r(yaw) {yaw:.4}");
        assert!(
            agree > 0.97 && jaw > 0.98 && yaw > 0.9,
            "{agree} {jaw} {yaw}"
        );
        // At the segment edges (60 s, 120 s) the mouth moves no more than
        // elsewhere in the clip.
        let jaw_s = col(&streamed, &|f| f.expression.jaw_open);
        let steps: Vec<f32> = jaw_s.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let max_step = steps.iter().fold(0.0f32, |a, &b| a.max(b));
        for edge in [60 * 25, 120 * 25] {
            assert!(
                steps[edge - 1] <= max_step && steps[edge - 1] < 0.5,
                "edge {edge}: {}",
                steps[edge - 1]
            );
        }
    }

    #[test]
    fn silent_and_empty_files_are_input_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        let silent = dir.path().join("silent.wav");
        crate::audio::write_wav(&silent, &AudioClip::new(vec![0.0; 16000], 16000)).unwrap();
        let e = motion_from_file(&silent, &Default::default(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("silent") && e.contains("silent.wav"), "{e}");
        let empty = dir.path().join("empty.wav");
        crate::audio::write_wav(&empty, &AudioClip::new(vec![], 16000)).unwrap();
        let e = motion_from_file(&empty, &Default::default(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty") || e.contains("no audio"), "{e}");
    }

    #[test]
    fn engine_names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!(VisemeEngine::parse("Energy").unwrap(), VisemeEngine::Energy);
        let e = VisemeEngine::parse("wav2lip").unwrap_err().to_string();
        assert!(e.contains("learned, energy"), "{e}");
    }

    #[test]
    fn speech_moves_mouth_head_and_eyes_at_any_fps() {
        let clip = speech();
        for (engine, fps) in [
            (VisemeEngine::Learned, Fps::new(25, 1).unwrap()),
            (VisemeEngine::Energy, Fps::new(30000, 1001).unwrap()),
        ] {
            let opts = MotionOptions {
                engine,
                ..MotionOptions::new(fps)
            };
            let m = audio_to_motion(&clip, &opts).unwrap();
            let n = fps.frame_count(clip.samples.len() as u64, clip.sample_rate) as usize;
            assert_eq!(m.track.frames.len(), n);
            let f = &m.track.frames;
            let open = f.iter().filter(|x| x.expression.jaw_open > 0.3).count();
            assert!(
                open > n / 10,
                "{engine:?}: mouth open on only {open} of {n} frames"
            );
            assert!(
                f.iter().any(|x| x.expression.blink_left > 0.8),
                "{engine:?}: no blink"
            );
            assert!(
                f.iter().any(|x| x.head.pitch.abs() > 0.005),
                "{engine:?}: still head"
            );
            assert!(
                m.segments.iter().any(|s| s.viseme == Viseme::PP),
                "{engine:?}: no PP"
            );
        }
    }

    #[test]
    fn still_mode_and_no_blinks_are_honoured() {
        let mut opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        opts.engine = VisemeEngine::Energy;
        opts.head.scale = 0.0;
        opts.blink.rate_per_minute = 0.0;
        let m = audio_to_motion(&speech(), &opts).unwrap();
        assert!(m.track.frames.iter().all(|f| f.head == Default::default()));
        assert!(m
            .track
            .frames
            .iter()
            .all(|f| f.expression.blink_left == 0.0));
    }

    #[test]
    fn idle_motion_keeps_the_mouth_closed_and_the_face_alive() {
        let opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        let t = idle_motion(20.0, &opts).unwrap();
        assert_eq!(t.frames.len(), 500);
        assert!(t.frames.iter().all(|f| f.expression.jaw_open == 0.0));
        assert!(t.frames.iter().any(|f| f.expression.blink_left > 0.8));
        assert!(t.frames.iter().any(|f| f.head.yaw.abs() > 0.002));
        assert!(idle_motion(0.0, &opts).is_err());
    }

    #[test]
    fn the_track_survives_a_json_round_trip() {
        let opts = MotionOptions::new(Fps::new(24, 1).unwrap());
        let t = idle_motion(2.0, &opts).unwrap();
        let back = MotionTrack::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        assert!(MotionTrack::from_json("{\"format\": \"x\"}").is_err());
    }
}
