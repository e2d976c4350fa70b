//! Per-stage timing of the core, in data order, as ratios against a
//! reference in the same process (absolute times on shared machines are
//! noisy).
//!
//! The stages are those `voxportrait animate` runs for the example portrait
//! and speech at 512², 25 fps: audio decode, (resampling), motion, face
//! analysis, renderer setup, rendering with the **mesh renderer** (the one
//! animate uses), and H.264 encoding through ffmpeg; then the whole render
//! and encode pass (`render_to_file`). The mouth-warp fallback (`--mouth`,
//! no face analysis) is timed too, on its own row.
//!
//! Run: `cargo bench -p voxportrait-core --bench stages` (from the repository
//! root; the encoding rows need ffmpeg, as animate does).

use std::path::PathBuf;
use std::time::Instant;

use voxportrait_core::audio::{self, LoadOptions};
use voxportrait_core::face::analyze::{AnalyzeOptions, FaceAnalyzer};
use voxportrait_core::face::{FaceAnchor, DEFAULT_MOUTH_FRACTION};
use voxportrait_core::motion::engine::{audio_to_motion, MotionOptions, VisemeEngine};
use voxportrait_core::motion::expression::RestingMouth;
use voxportrait_core::pipeline::{prepare_renderer, render_to_file};
use voxportrait_core::portrait;
use voxportrait_core::render::{Framing, MouthWarpRenderer};
use voxportrait_core::video::{self, Fps, FrameSink, Mp4Sink, OutputFormat};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Best of `n` runs, in seconds.
fn best<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let fps = Fps::new(25, 1).unwrap();
    let framing = Framing::Resize { size: 512 };
    let img = portrait::load_rgb(&repo("examples/portrait.png"), [255; 3]).unwrap();
    let clip = audio::load(&repo("examples/speech.wav"), &LoadOptions::default()).unwrap();

    let decode = best(5, || {
        audio::load(&repo("examples/speech.wav"), &LoadOptions::default()).unwrap()
    });
    let resample = best(5, || audio::resample(&clip, 48_000).unwrap());
    let opts = MotionOptions::new(fps);
    let motion = best(3, || audio_to_motion(&clip, &opts).unwrap());
    let energy = MotionOptions {
        engine: VisemeEngine::Energy,
        ..opts
    };
    let motion_energy = best(3, || audio_to_motion(&clip, &energy).unwrap());
    let track = audio_to_motion(&clip, &opts).unwrap().track;

    // Face analysis of the portrait, as the renderer's setup runs it.
    let analyzer = FaceAnalyzer::shared().unwrap();
    let analyze_opts = AnalyzeOptions {
        iris: true,
        face_index: Some(0),
        ..Default::default()
    };
    let analysis = best(5, || analyzer.analyze(&img, &analyze_opts).unwrap());
    // Setup: face analysis, framing and the mesh rig.
    let setup = best(5, || {
        prepare_renderer(&img, framing, 0, None, RestingMouth::KeepSmile).unwrap()
    });
    let renderer = prepare_renderer(&img, framing, 0, None, RestingMouth::KeepSmile).unwrap();
    let (w, h) = renderer.dimensions();
    let mut frame = vec![0u8; (w * h * 3) as usize];

    // Reference: one plain copy of a frame's bytes (memory bandwidth bound).
    let src = frame.clone();
    let reference = best(50, || frame.copy_from_slice(&src));

    // Rendering, per frame, over the clip's real motion.
    let frames = &track.frames;
    let per_frame = |runs: usize, f: &mut dyn FnMut(&voxportrait_core::motion::MotionFrame)| {
        best(runs, || frames.iter().for_each(&mut *f)) / frames.len() as f64
    };
    let render = per_frame(3, &mut |m| renderer.render_into(m, &mut frame));
    let small = portrait::fit_even(&img, 512);
    let (sw, sh) = small.dimensions();
    let warp = MouthWarpRenderer::new(
        small,
        FaceAnchor::from_fraction(sw, sh, DEFAULT_MOUTH_FRACTION),
    );
    let mut warp_frame = vec![0u8; (sw * sh * 3) as usize];
    let render_warp = per_frame(3, &mut |m| warp.render_into(m, &mut warp_frame));

    // Encoding: the rendered frames piped to ffmpeg (H.264 + AAC), and the
    // whole render + encode pass of animate.
    let ffmpeg = video::find_ffmpeg(None, &[]).ok();
    let dir = tempfile::tempdir().unwrap();
    let (encode, whole) = match &ffmpeg {
        Some(ff) => {
            let rendered: Vec<Vec<u8>> = frames
                .iter()
                .map(|m| {
                    renderer.render_into(m, &mut frame);
                    frame.clone()
                })
                .collect();
            let path = dir.path().join("encode.mp4");
            let encode = best(2, || {
                let mut sink =
                    Box::new(Mp4Sink::create(ff, &path, w, h, fps, Some(&clip)).unwrap());
                for f in &rendered {
                    sink.write_frame(f).unwrap();
                }
                (sink as Box<dyn FrameSink>).finish().unwrap();
            }) / frames.len() as f64;
            let path = dir.path().join("whole.mp4");
            let whole = best(2, || {
                render_to_file(
                    &renderer,
                    &track,
                    Some(&clip),
                    &path,
                    OutputFormat::Mp4,
                    Some(ff),
                    &mut |_, _| true,
                )
                .unwrap()
            });
            (Some(encode), Some(whole))
        }
        None => (None, None),
    };

    let secs = clip.duration_seconds();
    println!(
        "audio: {secs:.2} s ({} frames at {fps}); frame {w}x{h}; {} threads; reference frame copy {:.3} ms",
        frames.len(),
        rayon::current_num_threads(),
        reference * 1e3
    );
    println!("stage                              time        x realtime   x reference");
    let row = |name: &str, t: f64, per_clip: bool| {
        let rt = if per_clip {
            secs / t
        } else {
            1.0 / (t * fps.as_f64())
        };
        println!(
            "{name:<32} {:>9.3} ms  {:>10.1}   {:>10.1}",
            t * 1e3,
            rt,
            t / reference
        );
    };
    row("audio decode (clip)", decode, true);
    row("resample to 48k (clip)", resample, true);
    row("motion, learned (clip)", motion, true);
    row("motion, energy (clip)", motion_energy, true);
    row("face analysis (portrait)", analysis, true);
    row("renderer setup (portrait)", setup, true);
    row("render/frame, mesh", render, false);
    row("render/frame, mouth-warp --mouth", render_warp, false);
    match (encode, whole) {
        (Some(e), Some(t)) => {
            row("H.264+AAC encode/frame", e, false);
            row("render + encode (clip)", t, true);
        }
        _ => println!("no ffmpeg here: encoding not timed"),
    }
    println!(
        "(per-clip rows: x realtime = clip seconds / time; per-frame rows: \
         frames per second / {fps} fps)"
    );
}
