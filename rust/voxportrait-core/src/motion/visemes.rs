//! The 15 visemes (Oculus/Meta set), their mouth shapes, temporal decoding
//! of per-frame posteriors into segments, and the exports animators use:
//! Rhubarb Lip Sync mouth cues (TSV and JSON) and OVR per-frame weights.
//!
//! Viseme posteriors come at [`VISEME_RATE`] (50 Hz): frame `i` covers
//! `[20 i, 20 i + 20)` ms of the audio, the Whisper encoder's frame grid.

use serde::Serialize;

use super::Expression;

/// Frames per second of viseme posteriors.
pub const VISEME_RATE: f64 = 50.0;

/// Number of visemes.
pub const NUM_VISEMES: usize = 15;

/// Per-frame probabilities over the 15 visemes, in [`Viseme::ALL`] order.
pub type Posterior = [f32; NUM_VISEMES];

/// The 15 Oculus/Meta visemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Viseme {
    /// Silence, mouth at rest.
    Sil,
    /// p, b, m: lips closed.
    PP,
    /// f, v: lower lip under the upper teeth.
    FF,
    /// th: tongue tip between the teeth.
    TH,
    /// t, d: tongue on the ridge, jaw slightly open.
    DD,
    /// k, g: back of the tongue raised.
    Kk,
    /// ch, j, sh, zh: lips forward, teeth close.
    CH,
    /// s, z: teeth close, lips spread a little.
    SS,
    /// n, l.
    Nn,
    /// r.
    RR,
    /// a (father): jaw wide open.
    Aa,
    /// e (bed).
    E,
    /// i (bit, beet): lips spread.
    Ih,
    /// o (go): rounded and open.
    Oh,
    /// u (boot), w: rounded, small opening.
    Ou,
}

/// Rhubarb Lip Sync's mouth shapes (Preston Blair set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MouthShape {
    /// Closed mouth: p, b, m.
    A,
    /// Slightly open, teeth together: most consonants, "ee".
    B,
    /// Open: "eh", "ae".
    C,
    /// Wide open: "aa".
    D,
    /// Slightly rounded: "ao", "er".
    E,
    /// Puckered: "oo", "w".
    F,
    /// Upper teeth on the lower lip: f, v.
    G,
    /// Tongue raised: long "l".
    H,
    /// Idle, at rest.
    X,
}

impl MouthShape {
    /// The letter Rhubarb writes.
    pub fn letter(self) -> &'static str {
        match self {
            MouthShape::A => "A",
            MouthShape::B => "B",
            MouthShape::C => "C",
            MouthShape::D => "D",
            MouthShape::E => "E",
            MouthShape::F => "F",
            MouthShape::G => "G",
            MouthShape::H => "H",
            MouthShape::X => "X",
        }
    }
}

impl Viseme {
    /// Every viseme, in the index order posteriors use.
    pub const ALL: [Viseme; NUM_VISEMES] = [
        Viseme::Sil,
        Viseme::PP,
        Viseme::FF,
        Viseme::TH,
        Viseme::DD,
        Viseme::Kk,
        Viseme::CH,
        Viseme::SS,
        Viseme::Nn,
        Viseme::RR,
        Viseme::Aa,
        Viseme::E,
        Viseme::Ih,
        Viseme::Oh,
        Viseme::Ou,
    ];

    /// Position in [`Viseme::ALL`] (and in a [`Posterior`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The viseme at `index` of [`Viseme::ALL`].
    pub fn from_index(index: usize) -> Option<Self> {
        Self::ALL.get(index).copied()
    }

    /// The standard name: `sil`, `PP`, `FF`, …, `ou`.
    pub fn name(self) -> &'static str {
        [
            "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh",
            "ou",
        ][self.index()]
    }

    /// Parses a standard name (case-sensitive, as OVR writes them).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Rhubarb mouth shape for this viseme.
    pub fn mouth_shape(self) -> MouthShape {
        use Viseme::*;
        match self {
            Sil => MouthShape::X,
            PP => MouthShape::A,
            FF => MouthShape::G,
            TH | DD | Kk | CH | SS | Nn | Ih => MouthShape::B,
            E => MouthShape::C,
            Aa => MouthShape::D,
            RR | Oh => MouthShape::E,
            Ou => MouthShape::F,
        }
    }

    /// The mouth target of this viseme on the expression basis (mouth
    /// coefficients only; eyes and brows stay 0). Hand-set from phonetic
    /// descriptions of each articulation: jaw opening follows vowel height,
    /// rounding and spreading follow the lips.
    pub fn target(self) -> Expression {
        use Viseme::*;
        let (jaw, close, pucker, spread, raise, tuck) = match self {
            Sil => (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            PP => (0.04, 1.0, 0.0, 0.0, 0.0, 0.0),
            FF => (0.12, 0.0, 0.0, 0.1, 0.25, 1.0),
            TH => (0.2, 0.0, 0.0, 0.15, 0.1, 0.0),
            DD => (0.22, 0.0, 0.0, 0.15, 0.0, 0.0),
            Kk => (0.3, 0.0, 0.0, 0.1, 0.0, 0.0),
            CH => (0.14, 0.0, 0.55, 0.0, 0.35, 0.0),
            SS => (0.08, 0.0, 0.0, 0.4, 0.1, 0.0),
            Nn => (0.18, 0.0, 0.0, 0.1, 0.0, 0.0),
            RR => (0.2, 0.0, 0.45, 0.0, 0.1, 0.0),
            Aa => (0.85, 0.0, 0.0, 0.1, 0.0, 0.0),
            E => (0.5, 0.0, 0.0, 0.45, 0.0, 0.0),
            Ih => (0.28, 0.0, 0.0, 0.6, 0.0, 0.0),
            Oh => (0.55, 0.0, 0.6, 0.0, 0.0, 0.0),
            Ou => (0.2, 0.0, 0.95, 0.0, 0.0, 0.0),
        };
        Expression {
            jaw_open: jaw,
            lip_close: close,
            lip_pucker: pucker,
            lip_spread: spread,
            upper_lip_raise: raise,
            lower_lip_tuck: tuck,
            ..Default::default()
        }
    }
}

/// A stretch of time with one viseme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisemeSegment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds (exclusive).
    pub end: f64,
    /// The viseme.
    pub viseme: Viseme,
    /// Mean posterior of the viseme over the segment, 0..1.
    pub confidence: f32,
}

impl VisemeSegment {
    /// Centre time, seconds.
    pub fn centre(&self) -> f64 {
        (self.start + self.end) / 2.0
    }
}

/// Options of [`decode`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Log-probability cost of switching viseme between frames: higher
    /// gives fewer, longer segments.
    pub switch_cost: f32,
    /// Segments shorter than this many frames are merged into a neighbour,
    /// except bilabial closures (PP), which are kept however brief.
    pub min_frames: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            switch_cost: 2.0,
            min_frames: 3,
        }
    }
}

/// Decodes 50 Hz posteriors into viseme segments: a Viterbi pass with a
/// switching cost (temporal smoothing without lag), then a minimum
/// duration for everything but PP.
pub fn decode(posteriors: &[Posterior], opts: &DecodeOptions) -> Vec<VisemeSegment> {
    let path = viterbi(posteriors, opts.switch_cost);
    let mut runs = runs_of(&path);
    merge_short_runs(&mut runs, posteriors, opts.min_frames);
    runs.iter()
        .map(|&(start, end, v)| VisemeSegment {
            start: start as f64 / VISEME_RATE,
            end: end as f64 / VISEME_RATE,
            viseme: Viseme::ALL[v],
            confidence: (start..end).map(|i| posteriors[i][v]).sum::<f32>() / (end - start) as f32,
        })
        .collect()
}

/// Most likely viseme sequence under a uniform switching cost.
fn viterbi(posteriors: &[Posterior], switch_cost: f32) -> Vec<usize> {
    let n = posteriors.len();
    if n == 0 {
        return Vec::new();
    }
    let logp = |p: &Posterior, v: usize| p[v].max(1e-6).ln();
    let mut score: Vec<f32> = (0..NUM_VISEMES).map(|v| logp(&posteriors[0], v)).collect();
    let mut back = vec![[0u8; NUM_VISEMES]; n];
    for t in 1..n {
        let (best_v, best) = score
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |a, (v, s)| if s > a.1 { (v, s) } else { a });
        let mut next = [0.0f32; NUM_VISEMES];
        for v in 0..NUM_VISEMES {
            let (from, s) = if score[v] >= best - switch_cost {
                (v, score[v])
            } else {
                (best_v, best - switch_cost)
            };
            back[t][v] = from as u8;
            next[v] = s + logp(&posteriors[t], v);
        }
        score.copy_from_slice(&next);
    }
    let mut v = (0..NUM_VISEMES)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .unwrap_or(0);
    let mut path = vec![0; n];
    for t in (0..n).rev() {
        path[t] = v;
        v = back[t][v] as usize;
    }
    path
}

/// `(start, end, viseme)` runs of equal labels.
fn runs_of(path: &[usize]) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for (i, &v) in path.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == v => r.1 = i + 1,
            _ => runs.push((i, i + 1, v)),
        }
    }
    runs
}

/// Merges runs shorter than `min_frames` (except PP) into the neighbour
/// whose viseme the short run's frames find more likely.
fn merge_short_runs(runs: &mut Vec<(usize, usize, usize)>, post: &[Posterior], min_frames: usize) {
    loop {
        let short = runs
            .iter()
            .enumerate()
            .find(|(_, r)| r.1 - r.0 < min_frames && r.2 != Viseme::PP.index() && runs.len() > 1);
        let Some((i, &(s, e, _))) = short else {
            return;
        };
        let score = |v: usize| (s..e).map(|t| post[t][v]).sum::<f32>();
        let left = i.checked_sub(1).map(|j| runs[j].2);
        let right = runs.get(i + 1).map(|r| r.2);
        let into_left = match (left, right) {
            (Some(l), Some(r)) => score(l) >= score(r),
            (Some(_), None) => true,
            _ => false,
        };
        if into_left {
            runs[i - 1].1 = e;
        } else {
            runs[i + 1].0 = s;
        }
        runs.remove(i);
        // Neighbours that now touch with the same viseme become one run.
        let mut j = 1;
        while j < runs.len() {
            if runs[j].2 == runs[j - 1].2 {
                runs[j - 1].1 = runs[j].1;
                runs.remove(j);
            } else {
                j += 1;
            }
        }
    }
}

/// Rhubarb mouth cues: consecutive segments with the same mouth shape
/// joined, as `(start s, end s, shape)`.
pub fn mouth_cues(segments: &[VisemeSegment]) -> Vec<(f64, f64, MouthShape)> {
    let mut cues: Vec<(f64, f64, MouthShape)> = Vec::new();
    for s in segments {
        let shape = s.viseme.mouth_shape();
        match cues.last_mut() {
            Some(c) if c.2 == shape => c.1 = s.end,
            _ => cues.push((s.start, s.end, shape)),
        }
    }
    cues
}

/// Rhubarb's TSV format: one `start<TAB>shape` line per cue, times in
/// seconds with 2 decimals, and a final line with the end time and `X`.
pub fn rhubarb_tsv(segments: &[VisemeSegment]) -> String {
    let cues = mouth_cues(segments);
    let mut out = String::new();
    for (start, _, shape) in &cues {
        out.push_str(&format!("{start:.2}\t{}\n", shape.letter()));
    }
    if let Some(&(_, end, shape)) = cues.last() {
        if shape != MouthShape::X {
            out.push_str(&format!("{end:.2}\tX\n"));
        }
    }
    out
}

#[derive(Serialize)]
struct RhubarbJson<'a> {
    metadata: RhubarbMeta<'a>,
    #[serde(rename = "mouthCues")]
    mouth_cues: Vec<RhubarbCue>,
}

#[derive(Serialize)]
struct RhubarbMeta<'a> {
    #[serde(rename = "soundFile")]
    sound_file: &'a str,
    duration: f64,
}

#[derive(Serialize)]
struct RhubarbCue {
    start: f64,
    end: f64,
    value: &'static str,
}

/// Rhubarb's JSON format: `{"metadata": {"soundFile", "duration"},
/// "mouthCues": [{"start", "end", "value"}]}` (times rounded to 10 ms).
pub fn rhubarb_json(segments: &[VisemeSegment], sound_file: &str, duration: f64) -> String {
    let round = |t: f64| (t * 100.0).round() / 100.0;
    let json = RhubarbJson {
        metadata: RhubarbMeta {
            sound_file,
            duration: round(duration),
        },
        mouth_cues: mouth_cues(segments)
            .into_iter()
            .map(|(start, end, shape)| RhubarbCue {
                start: round(start),
                end: round(end),
                value: shape.letter(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&json).expect("cues serialise")
}

/// Posteriors averaged over each video frame's interval: `frames` rows of
/// weights at `fps`, for OVR-style per-frame viseme weights.
pub fn weights_at_fps(posteriors: &[Posterior], fps: f64, frames: usize) -> Vec<Posterior> {
    (0..frames)
        .map(|i| {
            let a = (i as f64 / fps * VISEME_RATE).floor() as usize;
            let b = (((i + 1) as f64 / fps * VISEME_RATE).ceil() as usize).max(a + 1);
            let rows = &posteriors[a.min(posteriors.len())..b.min(posteriors.len())];
            if rows.is_empty() {
                let mut sil = [0.0; NUM_VISEMES];
                sil[0] = 1.0;
                return sil;
            }
            let mut w = [0.0f32; NUM_VISEMES];
            for r in rows {
                for (x, y) in w.iter_mut().zip(r) {
                    *x += y / rows.len() as f32;
                }
            }
            w
        })
        .collect()
}

#[derive(Serialize)]
struct OvrJson {
    format: &'static str,
    fps: f64,
    visemes: Vec<&'static str>,
    frames: Vec<Vec<f32>>,
}

/// OVR LipSync-style JSON: `{"format": "ovr-visemes/1", "fps", "visemes":
/// ["sil", …, "ou"], "frames": [[15 weights], …]}`, weights rounded to
/// 1/1000.
pub fn ovr_json(posteriors: &[Posterior], fps: f64, frames: usize) -> String {
    let json = OvrJson {
        format: "ovr-visemes/1",
        fps,
        visemes: Viseme::ALL.iter().map(|v| v.name()).collect(),
        frames: weights_at_fps(posteriors, fps, frames)
            .into_iter()
            .map(|w| w.iter().map(|x| (x * 1000.0).round() / 1000.0).collect())
            .collect(),
    };
    serde_json::to_string(&json).expect("weights serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(v: Viseme, p: f32) -> Posterior {
        let mut row = [(1.0 - p) / 14.0; NUM_VISEMES];
        row[v.index()] = p;
        row
    }

    fn frames(spec: &[(Viseme, usize, f32)]) -> Vec<Posterior> {
        spec.iter()
            .flat_map(|&(v, n, p)| std::iter::repeat_n(one_hot(v, p), n))
            .collect()
    }

    #[test]
    fn names_round_trip_and_shapes_follow_rhubarb() {
        for v in Viseme::ALL {
            assert_eq!(Viseme::from_name(v.name()), Some(v));
            assert_eq!(Viseme::from_index(v.index()), Some(v));
        }
        assert_eq!(Viseme::PP.mouth_shape(), MouthShape::A);
        assert_eq!(Viseme::Aa.mouth_shape(), MouthShape::D);
        assert_eq!(Viseme::FF.mouth_shape(), MouthShape::G);
        assert_eq!(Viseme::Ou.mouth_shape(), MouthShape::F);
        assert_eq!(Viseme::Sil.mouth_shape(), MouthShape::X);
    }

    #[test]
    fn targets_open_vowels_wide_and_close_bilabials() {
        assert!(Viseme::Aa.target().jaw_open > Viseme::E.target().jaw_open);
        assert!(Viseme::E.target().jaw_open > Viseme::Ih.target().jaw_open);
        assert_eq!(Viseme::PP.target().lip_close, 1.0);
        assert!(Viseme::Ou.target().lip_pucker > 0.9);
        assert_eq!(Viseme::Sil.target(), Expression::default());
    }

    #[test]
    fn decoding_removes_flicker_but_keeps_a_brief_closure() {
        // aa aa aa E aa aa aa | PP (1 frame) | aa ...: the lone E goes, PP stays.
        let mut post = frames(&[(Viseme::Aa, 3, 0.8)]);
        post.push(one_hot(Viseme::E, 0.5));
        post.extend(frames(&[
            (Viseme::Aa, 3, 0.8),
            (Viseme::PP, 1, 0.9),
            (Viseme::Aa, 5, 0.8),
        ]));
        let segs = decode(&post, &DecodeOptions::default());
        let names: Vec<&str> = segs.iter().map(|s| s.viseme.name()).collect();
        assert_eq!(names, ["aa", "PP", "aa"], "{segs:?}");
        assert!((segs[1].start - 0.14).abs() < 1e-9 && (segs[1].end - 0.16).abs() < 1e-9);
    }

    #[test]
    fn rhubarb_exports_join_equal_shapes_and_end_in_x() {
        let post = frames(&[
            (Viseme::Sil, 10, 0.9),
            (Viseme::DD, 4, 0.9),
            (Viseme::SS, 4, 0.9),
            (Viseme::Aa, 6, 0.9),
        ]);
        let segs = decode(&post, &DecodeOptions::default());
        let tsv = rhubarb_tsv(&segs);
        assert_eq!(tsv, "0.00\tX\n0.20\tB\n0.36\tD\n0.48\tX\n");
        let json: serde_json::Value =
            serde_json::from_str(&rhubarb_json(&segs, "a.wav", 0.48)).unwrap();
        assert_eq!(json["mouthCues"][1]["value"], "B");
        assert_eq!(json["mouthCues"][1]["end"], 0.36);
        assert_eq!(json["metadata"]["soundFile"], "a.wav");
    }

    #[test]
    fn ovr_weights_average_over_each_video_frame() {
        let post = frames(&[(Viseme::Sil, 2, 1.0), (Viseme::Aa, 2, 1.0)]);
        // 25 fps: frame 0 = posterior frames 0-1, frame 1 = 2-3.
        let w = weights_at_fps(&post, 25.0, 3);
        assert!((w[0][0] - 1.0).abs() < 1e-6 && (w[1][10] - 1.0).abs() < 1e-6);
        assert_eq!(w[2][0], 1.0, "past the end is silence");
        let json: serde_json::Value = serde_json::from_str(&ovr_json(&post, 25.0, 2)).unwrap();
        assert_eq!(json["visemes"][10], "aa");
        assert_eq!(json["frames"][1][10], 1.0);
    }
}
