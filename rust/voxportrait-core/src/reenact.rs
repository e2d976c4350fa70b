//! Reenactment: a driving video's face motion → motion on our basis → a
//! portrait that moves like the driver (AniPortrait's and LivePortrait's
//! job), streaming.
//!
//! Per driving frame: the face is tracked (landmarks smoothed with a
//! One-Euro filter), its head pose fitted, and its landmarks taken back into
//! the canonical frame. The expression is then fitted on the
//! [`ExpressionBasis`] by regularised least squares (Gauss–Newton on the 9
//! coefficients, the basis being non-linear: a hinged jaw, gap-closing lips
//! and lids), against a neutral face: the driver's first frame (relative
//! motion, the default: the driver's own face shape does not leak into the
//! portrait) or the canonical face (absolute). Head pose is relative to the
//! driver's first frame, or to the portrait's own pose (absolute).
//!
//! Only the motion (a few floats per frame) is kept; frames stream through.

use std::path::Path;

use image::RgbImage;

use crate::audio::{self, AudioClip, LoadOptions};
use crate::dub::OneEuro;
use crate::error::{Error, Result};
use crate::face::analyze::{FaceAnalyzer, FaceTracker};
use crate::face::canonical::{CanonicalFace, NUM_VERTICES};
use crate::face::pose::HeadPose;
use crate::motion::expression::{ExpressionBasis, RestingMouth};
use crate::motion::{Expression, HeadMotion, MotionFrame, MotionTrack};
use crate::video::{self, VideoReader};

/// Coefficients the fitter estimates (in `Expression::NAMES` order). Lip
/// closure, upper-lip raise and lower-lip tuck stay 0: on landmarks they are
/// nearly indistinguishable from a smaller jaw opening or a pucker, and
/// letting them in made the jaw estimate noisy on rendered video.
const FITTED: [bool; 9] = [true, false, true, true, false, false, true, true, true];

/// Fits expression coefficients to a face shape in the canonical frame.
pub struct ExpressionFitter {
    basis: ExpressionBasis,
    /// Vertices that carry expression: lips, jaw line, lids, brows.
    ids: Vec<usize>,
    /// Ridge weight per coefficient (keeps ill-determined ones near 0).
    lambda: f32,
}

impl ExpressionFitter {
    /// A fitter over the canonical face's expressive vertex groups.
    pub fn new(face: &CanonicalFace) -> Self {
        let g = &face.groups;
        let mut ids: Vec<usize> = [
            &g.lips_inner,
            &g.lips_outer,
            &g.jaw,
            &g.right_eye_upper,
            &g.right_eye_lower,
            &g.left_eye_upper,
            &g.left_eye_lower,
            &g.right_brow,
            &g.left_brow,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        ids.sort_unstable();
        ids.dedup();
        Self {
            basis: ExpressionBasis::new(face),
            ids,
            lambda: 0.02,
        }
    }

    fn residual(&self, neutral: &[[f32; 3]], target: &[[f32; 3]], e: &Expression) -> Vec<f32> {
        let v = self.basis.apply(neutral, e);
        self.ids
            .iter()
            .flat_map(|&i| (0..3).map(move |k| (i, k)))
            .map(|(i, k)| target[i][k] - v[i][k])
            .collect()
    }

    /// The expression that best turns `neutral` into `target` (both 468
    /// vertices in the canonical frame).
    pub fn fit(&self, neutral: &[[f32; 3]], target: &[[f32; 3]]) -> Expression {
        let mut x = [0.0f32; 9];
        const H: f32 = 0.05;
        for _ in 0..3 {
            let e = Expression::from_array(x);
            let active = |j: usize| FITTED[j];
            let r = self.residual(neutral, target, &e);
            // Jacobian of the model by forward differences.
            let cols: Vec<Vec<f32>> = (0..9)
                .map(|j| {
                    if !active(j) {
                        return vec![0.0; r.len()];
                    }
                    let mut xj = x;
                    xj[j] += H;
                    let rj = self.residual(neutral, target, &Expression::from_array(xj));
                    // d(model)/dx = -(d residual)/dx
                    r.iter().zip(&rj).map(|(a, b)| (a - b) / H).collect()
                })
                .collect();
            let mut ata = [[0.0f64; 9]; 9];
            let mut atr = [0.0f64; 9];
            for a in 0..9 {
                for b in a..9 {
                    let s: f64 = cols[a]
                        .iter()
                        .zip(&cols[b])
                        .map(|(p, q)| (*p as f64) * (*q as f64))
                        .sum();
                    ata[a][b] = s;
                    ata[b][a] = s;
                }
                atr[a] = cols[a]
                    .iter()
                    .zip(&r)
                    .map(|(p, q)| (*p as f64) * (*q as f64))
                    .sum::<f64>()
                    - self.lambda as f64 * x[a] as f64;
                ata[a][a] += if active(a) { self.lambda as f64 } else { 1.0 };
            }
            let Some(dx) = solve9(ata, atr) else { break };
            for j in 0..9 {
                x[j] = (x[j] + dx[j] as f32).clamp(-0.6, 1.6);
            }
        }
        Expression::from_array(x)
    }
}

/// Solves a symmetric 9×9 system by Gaussian elimination with partial
/// pivoting (9 unknowns: no linear-algebra crate needed).
fn solve9(mut a: [[f64; 9]; 9], mut b: [f64; 9]) -> Option<[f64; 9]> {
    for c in 0..9 {
        let p = (c..9).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let pivot = a[c];
        for r in c + 1..9 {
            let f = a[r][c] / pivot[c];
            for (x, p) in a[r][c..].iter_mut().zip(&pivot[c..]) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0.0; 9];
    for r in (0..9).rev() {
        let s: f64 = (r + 1..9).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Landmarks of a face mapped back into the canonical frame by its pose.
fn to_canonical(pose: &HeadPose, landmarks: &[[f32; 3]]) -> Vec<[f32; 3]> {
    let r = &pose.rotation;
    landmarks[..NUM_VERTICES]
        .iter()
        .map(|p| {
            let d = [
                p[0] - pose.translation[0],
                p[1] - pose.translation[1],
                p[2] - pose.translation[2],
            ];
            [0, 1, 2].map(|j| (r[0][j] * d[0] + r[1][j] * d[1] + r[2][j] * d[2]) / pose.scale)
        })
        .collect()
}

/// Which parts of the driver's motion to transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Head pose.
    pub pose: bool,
    /// Blinks and, unless [`ReenactOptions::gaze`] is off, gaze.
    pub eyes: bool,
    /// Brows.
    pub brows: bool,
    /// Jaw and lips.
    pub mouth: bool,
}

impl Default for Parts {
    fn default() -> Self {
        Self {
            pose: true,
            eyes: true,
            brows: true,
            mouth: true,
        }
    }
}

/// Options of [`motion_from_video`].
#[derive(Debug, Clone)]
pub struct ReenactOptions {
    /// Motion relative to the driver's first frame (else absolute).
    pub relative: bool,
    /// Parts to transfer.
    pub parts: Parts,
    /// Landmark smoothing cutoff, Hz.
    pub smooth_min_cutoff: f32,
    /// Which face of the driving video to follow (0 = the largest). Frames
    /// that show fewer faces repeat the last motion; the portrait's face is
    /// picked separately (the `portrait_face` of [`reenact`]).
    pub face_index: usize,
    /// The portrait's own pose, for absolute head motion.
    pub portrait_pose: Option<HeadPose>,
    /// The portrait's own gaze ([`crate::face::analyze::Face::gaze`]): in
    /// relative mode the driver's gaze changes are added to it (to straight
    /// ahead when unknown). In absolute mode the driver's gaze is used as is.
    pub portrait_gaze: Option<[f32; 2]>,
    /// Read the driver's gaze with the eyes part (the iris network, about
    /// 2 ms a frame); off keeps the portrait's own eyes while blinks transfer.
    pub gaze: bool,
}

impl Default for ReenactOptions {
    fn default() -> Self {
        Self {
            relative: true,
            parts: Parts::default(),
            smooth_min_cutoff: 1.5,
            face_index: 0,
            portrait_pose: None,
            portrait_gaze: None,
            gaze: true,
        }
    }
}

/// Fits motion to a face video one frame at a time (see the module docs);
/// used by [`motion_from_frames`] and by hosts that hold frames already.
pub struct MotionFitter {
    analyzer: &'static FaceAnalyzer,
    fitter: ExpressionFitter,
    tracker: FaceTracker<'static>,
    smoother: OneEuro,
    /// Smooths the gaze (the iris network is noisier than the mesh).
    gaze_smoother: OneEuro,
    opts: ReenactOptions,
    first: Option<(HeadPose, Vec<[f32; 3]>)>,
    first_gaze: Option<[f32; 2]>,
    last: MotionFrame,
}

/// Eye closure above which the driver's gaze is not read (the iris network
/// guesses on a closed eye): the last gaze is held through the blink.
const GAZE_BLINK_HOLD: f32 = 0.5;

impl MotionFitter {
    /// A fitter for frames at `fps`.
    pub fn new(fps: video::Fps, opts: &ReenactOptions) -> Result<Self> {
        let analyzer = FaceAnalyzer::shared()?;
        let mut tracker = FaceTracker::new(analyzer, opts.face_index);
        // The iris network (about 2 ms a frame) only when the eyes transfer.
        tracker.iris = opts.parts.eyes && opts.gaze;
        let rate = fps.as_f64() as f32;
        Ok(Self {
            analyzer,
            fitter: ExpressionFitter::new(analyzer.canonical()),
            tracker,
            smoother: OneEuro::new(rate, opts.smooth_min_cutoff, 0.05),
            gaze_smoother: OneEuro::new(rate, opts.smooth_min_cutoff, 0.5),
            opts: opts.clone(),
            first: None,
            first_gaze: None,
            last: MotionFrame::default(),
        })
    }

    /// Whether a face has been seen yet.
    pub fn found_face(&self) -> bool {
        self.first.is_some()
    }

    /// Fails when no frame pushed so far showed the chosen face, saying
    /// whether the video shows no face at all or fewer faces than the
    /// driving face index asks for.
    pub fn check_found_face(&self) -> Result<()> {
        if self.found_face() {
            return Ok(());
        }
        let (wanted, most) = (self.opts.face_index, self.tracker.most_faces);
        Err(Error::Input(if most > 0 && wanted >= most {
            format!(
                "driving face index {wanted} is out of range: at most {most} face(s) were found in \
                 a frame of the driving video (0 = the largest, {} = the smallest)",
                most - 1
            )
        } else {
            "no face found in any frame of the driving video; use a video where a face is visible"
                .into()
        }))
    }

    /// The motion of the next frame; a frame without a face repeats the
    /// last motion (neutral before the first face).
    pub fn push(&mut self, img: &RgbImage) -> Result<MotionFrame> {
        let canonical = self.analyzer.canonical();
        let opts = &self.opts.clone();
        let Some(mut f) = self.tracker.next_frame(img)? else {
            self.smoother.reset();
            return Ok(self.last);
        };
        crate::dub::smooth_face(&mut self.smoother, &mut f, canonical)?;
        let pose = f.pose.pose;
        let shape = to_canonical(&pose, &f.landmarks);
        let (ref_pose, neutral) = self
            .first
            .get_or_insert_with(|| (pose, shape.clone()))
            .clone();
        let neutral = if opts.relative {
            neutral
        } else {
            canonical.vertices.clone()
        };
        let mut e = self.fitter.fit(&neutral, &shape);
        let base = if opts.relative {
            ref_pose
        } else {
            opts.portrait_pose.unwrap_or(ref_pose)
        };
        let mut head = HeadMotion {
            yaw: pose.yaw - base.yaw,
            pitch: pose.pitch - base.pitch,
            roll: pose.roll - base.roll,
            tx: (pose.translation[0] - ref_pose.translation[0]) / pose.scale,
            ty: (pose.translation[1] - ref_pose.translation[1]) / pose.scale,
            scale: pose.scale / ref_pose.scale,
        };
        if !opts.parts.pose {
            head = HeadMotion::default();
        }
        let gaze = self.gaze(&f, e.blink_left.max(e.blink_right));
        if !opts.parts.eyes {
            e.blink_left = 0.0;
            e.blink_right = 0.0;
        }
        if !opts.parts.brows {
            e.brow_raise = 0.0;
        }
        if !opts.parts.mouth {
            e = Expression {
                blink_left: e.blink_left,
                blink_right: e.blink_right,
                brow_raise: e.brow_raise,
                ..Default::default()
            };
        }
        self.last = MotionFrame {
            expression: e,
            head,
            gaze,
        };
        Ok(self.last)
    }

    /// The gaze to give the portrait for the driver's face `f` whose eyes
    /// are `closure` closed (`None` when the eyes do not transfer).
    fn gaze(&mut self, f: &crate::face::analyze::Face, closure: f32) -> Option<[f32; 2]> {
        if !(self.opts.parts.eyes && self.opts.gaze) {
            return None;
        }
        let Some(g) = f.gaze().filter(|_| closure < GAZE_BLINK_HOLD) else {
            return self.last.gaze;
        };
        let mut v = g.to_vec();
        self.gaze_smoother.filter(&mut v);
        let g = [v[0], v[1]];
        if !self.opts.relative {
            return Some(g);
        }
        let g0 = *self.first_gaze.get_or_insert(g);
        let base = self.opts.portrait_gaze.unwrap_or([0.0; 2]);
        Some([base[0] + g[0] - g0[0], base[1] + g[1] - g0[1]])
    }
}

/// Streams the frames of `reader` and fits motion to each (see
/// [`MotionFitter`]). `progress(done, total)`: `false` stops with
/// [`Error::Cancelled`].
pub fn motion_from_frames(
    reader: &mut VideoReader,
    opts: &ReenactOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<MotionTrack> {
    let info = reader.info.clone();
    let mut fitter = MotionFitter::new(info.fps, opts)?;
    let total = info
        .duration
        .map(|d| (d * info.fps.as_f64()).round() as u64)
        .unwrap_or(0);
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    while reader.read_frame(&mut buf)? {
        let img = RgbImage::from_raw(info.width, info.height, std::mem::take(&mut buf))
            .expect("frame sized by the reader");
        frames.push(fitter.push(&img)?);
        buf = img.into_raw();
        if !progress(frames.len() as u64, total.max(frames.len() as u64)) {
            return Err(Error::Cancelled);
        }
    }
    if frames.is_empty() {
        return Err(Error::Input("the driving video has no frames".into()));
    }
    fitter.check_found_face()?;
    Ok(MotionTrack {
        fps: info.fps,
        frames,
    })
}

/// Motion of the face in the video at `path` (see [`motion_from_frames`]),
/// plus its soundtrack when it has one.
pub fn motion_from_video(
    path: &Path,
    opts: &ReenactOptions,
    ffmpeg: &video::Ffmpeg,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<(MotionTrack, Option<AudioClip>)> {
    let mut reader = VideoReader::open(ffmpeg, path, None)?;
    let track = motion_from_frames(&mut reader, opts, progress)?;
    let sound = if reader.info.has_audio {
        audio::load(path, &LoadOptions::default()).ok()
    } else {
        None
    };
    Ok((track, sound))
}

/// What [`reenact`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReenactReport {
    /// Frames written.
    pub frames: u64,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frame rate (the driving video's).
    pub fps: video::Fps,
    /// Whether the driving video's soundtrack was kept.
    pub with_audio: bool,
}

/// Drives the portrait at `image` with the face motion of the video at
/// `driver`, writing `output` (MP4 with the driver's soundtrack, when it has
/// one). Two streaming passes over the driver: motion first (only the
/// motion is kept), then rendering straight to the encoder.
///
/// `portrait_face` picks the face of the portrait that moves,
/// `opts.face_index` the face of the driving video it follows (both 0 =
/// the largest).
#[allow(clippy::too_many_arguments)]
pub fn reenact(
    image: &Path,
    driver: &Path,
    output: &Path,
    framing: crate::render::Framing,
    portrait_face: usize,
    opts: &ReenactOptions,
    ffmpeg: Option<&Path>,
    ffmpeg_candidates: &[std::path::PathBuf],
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<ReenactReport> {
    let ff = video::find_ffmpeg(ffmpeg, ffmpeg_candidates)?;
    let portrait = crate::portrait::load_rgb(image, [255, 255, 255])?;
    video::check_output_writable(output)?;
    let renderer = crate::pipeline::prepare_renderer(
        &portrait,
        framing,
        portrait_face,
        None,
        RestingMouth::Photo,
    )?;
    let mut opts = opts.clone();
    if let crate::pipeline::FrameRenderer::Mesh(r) = &renderer {
        opts.portrait_pose.get_or_insert(r.rig().pose);
        opts.portrait_gaze.get_or_insert(r.source_gaze());
    }
    // Motion takes the first half of the progress, rendering the second.
    let (track, sound) = motion_from_video(driver, &opts, &ff, &mut |d, t| progress(d, 2 * t))?;
    let n = track.frames.len() as u64;
    let (w, h) = renderer.dimensions();
    crate::pipeline::render_to_file(
        &renderer,
        &track,
        sound.as_ref().map(crate::audio::Soundtrack::Clip),
        output,
        video::OutputFormat::Mp4,
        Some(&ff),
        &mut |d, _| progress(n + d, 2 * n),
    )?;
    Ok(ReenactReport {
        frames: n,
        width: w,
        height: h,
        fps: track.fps,
        with_audio: sound.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::engine::{audio_to_motion, MotionOptions};
    use crate::pipeline::prepare_renderer;
    use crate::render::Framing;
    use crate::testdata::{correlation, example, fixture};
    use crate::video::{Fps, FrameSink, Mp4Sink};

    #[test]
    fn the_fitter_recovers_expressions_it_is_given() {
        let analyzer = FaceAnalyzer::shared().unwrap();
        let c = analyzer.canonical();
        let fitter = ExpressionFitter::new(c);
        let basis = ExpressionBasis::new(c);
        let want = Expression {
            jaw_open: 0.6,
            lip_spread: 0.3,
            blink_left: 0.8,
            brow_raise: 0.5,
            ..Default::default()
        };
        let shape = basis.apply(&c.vertices, &want);
        let got = fitter.fit(&c.vertices, &shape);
        for (g, w) in got.to_array().iter().zip(want.to_array()) {
            assert!((g - w).abs() < 0.08, "{got:?} vs {want:?}");
        }
    }

    /// Frames rendered with the eyes looking left and right are fitted
    /// frame by frame: the gaze follows, relative to the first frame and
    /// on top of the portrait's own gaze.
    /// The example photo's renderer at 384², its mouth as the photo has it.
    fn example_renderer() -> crate::pipeline::FrameRenderer {
        let img = crate::portrait::load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        prepare_renderer(
            &img,
            Framing::Resize { size: 384 },
            0,
            None,
            RestingMouth::Photo,
        )
        .unwrap()
    }

    #[test]
    fn the_drivers_gaze_carries_over() {
        let r = example_renderer();
        let crate::pipeline::FrameRenderer::Mesh(mesh) = &r else {
            panic!("the example has a face")
        };
        let g0 = mesh.source_gaze();
        let fps = Fps::new(25, 1).unwrap();
        let commanded: Vec<f32> = (0..40)
            .map(|i| 0.12 * (i as f32 * std::f32::consts::TAU / 40.0).sin())
            .collect();
        let opts = ReenactOptions {
            portrait_gaze: Some([0.3, 0.2]),
            ..Default::default()
        };
        let mut fitter = MotionFitter::new(fps, &opts).unwrap();
        let mut got = Vec::new();
        for &dx in &commanded {
            let m = MotionFrame {
                gaze: Some([g0[0] + dx, g0[1]]),
                ..Default::default()
            };
            let frame = mesh.render(&m);
            let fitted = fitter.push(&frame).unwrap();
            let g = fitted.gaze.expect("gaze with the eyes part on");
            got.push(g[0] - 0.3);
            assert!((g[1] - 0.2).abs() < 0.03, "vertical gaze {}", g[1]);
        }
        let c = correlation(&commanded, &got);
        eprintln!(
            "reenacted gaze: r = {c:.3}, peak {:.3}",
            got.iter().fold(0.0f32, |a, &b| a.max(b))
        );
        assert!(c > 0.9, "r = {c}");
        // Without the eyes part there is no gaze.
        let mut opts = ReenactOptions::default();
        opts.parts.eyes = false;
        let mut fitter = MotionFitter::new(fps, &opts).unwrap();
        assert!(fitter.push(mesh.source()).unwrap().gaze.is_none());
        // Nor with the gaze turned off (a reference video lending blinks).
        let opts = ReenactOptions {
            gaze: false,
            ..Default::default()
        };
        let mut fitter = MotionFitter::new(fps, &opts).unwrap();
        assert!(fitter.push(mesh.source()).unwrap().gaze.is_none());
    }

    /// Standard deviation of the fitted jaw opening of `frames`.
    fn jaw_spread(frames: &[MotionFrame]) -> f32 {
        let n = frames.len() as f32;
        let mean = frames.iter().map(|m| m.expression.jaw_open).sum::<f32>() / n;
        (frames
            .iter()
            .map(|m| (m.expression.jaw_open - mean).powi(2))
            .sum::<f32>()
            / n)
            .sqrt()
    }

    /// Frames of the two-face photo where only the face `talking` opens and
    /// closes its mouth, fitted with each driving face index: the index picks
    /// the face that is followed, and one past the last face is a clear error.
    #[test]
    fn the_driving_face_index_picks_a_face_of_the_video() {
        let img = crate::portrait::load_rgb(&fixture("face/two_faces.jpg"), [255; 3]).unwrap();
        let fps = Fps::new(25, 1).unwrap();
        let motion: Vec<MotionFrame> = (0..24)
            .map(|i| MotionFrame {
                expression: Expression {
                    jaw_open: 0.5 * (1.0 - (i as f32 * std::f32::consts::TAU / 8.0).cos()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        for talking in [0, 1] {
            let r =
                prepare_renderer(&img, Framing::Full, talking, None, RestingMouth::Photo).unwrap();
            let (w, h) = r.dimensions();
            let frames: Vec<RgbImage> = motion
                .iter()
                .map(|m| {
                    let mut buf = vec![0u8; (w * h * 3) as usize];
                    r.render_into(m, &mut buf);
                    RgbImage::from_raw(w, h, buf).unwrap()
                })
                .collect();
            let spread = |index: usize| {
                let opts = ReenactOptions {
                    face_index: index,
                    ..Default::default()
                };
                let mut fitter = MotionFitter::new(fps, &opts).unwrap();
                let fitted: Vec<MotionFrame> =
                    frames.iter().map(|f| fitter.push(f).unwrap()).collect();
                fitter.check_found_face().unwrap();
                jaw_spread(&fitted)
            };
            let (followed, other) = (spread(talking), spread(1 - talking));
            eprintln!("face {talking} talks: jaw spread {followed:.3} followed, {other:.3} other");
            assert!(
                followed > 0.02 && followed > 4.0 * other,
                "face {talking}: {followed} vs {other}"
            );
        }
        let opts = ReenactOptions {
            face_index: 2,
            ..Default::default()
        };
        let mut fitter = MotionFitter::new(fps, &opts).unwrap();
        fitter.push(&img).unwrap();
        let e = fitter.check_found_face().unwrap_err().to_string();
        assert!(
            e.contains("driving face index 2 is out of range") && e.contains("at most 2 face(s)"),
            "{e}"
        );
        // A frame without any face says so instead.
        let blank = RgbImage::from_pixel(320, 240, image::Rgb([96, 110, 128]));
        let mut fitter = MotionFitter::new(fps, &ReenactOptions::default()).unwrap();
        fitter.push(&blank).unwrap();
        let e = fitter.check_found_face().unwrap_err().to_string();
        assert!(e.contains("no face found"), "{e}");
    }

    /// A video rendered from the example photo with known motion (real
    /// speech, lively head) is reenacted: the fitted motion follows the
    /// motion it was rendered with.
    #[test]
    fn reenacting_a_rendered_video_recovers_its_motion() {
        let Ok(ffmpeg) = video::find_ffmpeg(None, &[]) else {
            eprintln!("no ffmpeg here: reenactment is covered by the Python tests");
            return;
        };
        let fps = Fps::new(25, 1).unwrap();
        let clip = audio::load(&example("speech.wav"), &LoadOptions::default()).unwrap();
        let mut mo = MotionOptions::new(fps);
        mo.head.preset = crate::motion::head::HeadPreset::Lively;
        let track = audio_to_motion(&clip, &mo).unwrap().track;
        let r = example_renderer();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("driver.mp4");
        let (w, h) = r.dimensions();
        let mut sink = Box::new(Mp4Sink::create(&ffmpeg, &path, w, h, fps, None).unwrap());
        let mut frame = vec![0u8; (w * h * 3) as usize];
        for m in &track.frames {
            r.render_into(m, &mut frame);
            sink.write_frame(&frame).unwrap();
        }
        (sink as Box<dyn FrameSink>).finish().unwrap();
        let opts = ReenactOptions::default();
        let (got, sound) = motion_from_video(&path, &opts, &ffmpeg, &mut |_, _| true).unwrap();
        assert!(sound.is_none());
        assert_eq!(got.frames.len(), track.frames.len());
        let col = |t: &MotionTrack, f: &dyn Fn(&MotionFrame) -> f32| {
            t.frames.iter().map(f).collect::<Vec<f32>>()
        };
        let jaw = correlation(
            &col(&track, &|m| m.expression.jaw_open),
            &col(&got, &|m| m.expression.jaw_open),
        );
        let yaw = correlation(&col(&track, &|m| m.head.yaw), &col(&got, &|m| m.head.yaw));
        let pitch = correlation(
            &col(&track, &|m| m.head.pitch),
            &col(&got, &|m| m.head.pitch),
        );
        let roll = correlation(&col(&track, &|m| m.head.roll), &col(&got, &|m| m.head.roll));
        // The mouth opening the coefficients make (jaw opening and lip
        // closure trade off: a closed mouth with the jaw down looks like a
        // closed mouth), on the canonical face.
        let c = FaceAnalyzer::shared().unwrap().canonical();
        let basis = ExpressionBasis::new(c);
        let k = c.groups.keypoints;
        let gap = |m: &MotionFrame| {
            let v = basis.apply(&c.vertices, &m.expression);
            v[k.upper_lip_inner][1] - v[k.lower_lip_inner][1]
        };
        let opening = correlation(&col(&track, &gap), &col(&got, &gap));
        eprintln!(
            "reenact: r(mouth opening) {opening:.3}, r(jaw_open) {jaw:.3}, r(yaw) {yaw:.3}, \
             r(pitch) {pitch:.3}, r(roll) {roll:.3}"
        );
        assert!(
            opening >= 0.9 && yaw >= 0.9 && roll >= 0.9,
            "{opening} {jaw} {yaw} {pitch} {roll}"
        );
        let _ = fixture;
    }
}
