//! Per-stage timing of the core, as ratios against a reference in the same
//! process (absolute times on shared machines are noisy).
//!
//! Run: `cargo bench -p voxportrait-core --bench stages` (from the repository root).

use std::path::PathBuf;
use std::time::Instant;

use voxportrait_core::audio::{self, LoadOptions};
use voxportrait_core::face::{FaceAnchor, DEFAULT_MOUTH_FRACTION};
use voxportrait_core::motion::engine::{audio_to_motion, MotionOptions, VisemeEngine};
use voxportrait_core::portrait;
use voxportrait_core::render::MouthWarpRenderer;
use voxportrait_core::video::Fps;

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
    let img = portrait::load_rgb(&repo("examples/portrait.png"), [255; 3]).unwrap();
    let clip = audio::load(&repo("examples/speech.wav"), &LoadOptions::default()).unwrap();
    let (w, h) = img.dimensions();
    let mut frame = vec![0u8; (w * h * 3) as usize];

    // Reference: one plain copy of a frame's bytes (memory bandwidth bound).
    let src = img.as_raw().clone();
    let reference = best(50, || frame.copy_from_slice(&src));

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
    let renderer = MouthWarpRenderer::new(
        img.clone(),
        FaceAnchor::from_fraction(w, h, DEFAULT_MOUTH_FRACTION),
    );
    let loud = track
        .frames
        .iter()
        .max_by(|a, b| a.expression.jaw_open.total_cmp(&b.expression.jaw_open))
        .unwrap();
    let render = best(20, || renderer.render_into(loud, &mut frame));

    let secs = clip.duration_seconds();
    println!(
        "audio: {secs:.2} s; frame {w}x{h}; reference frame copy {:.3} ms",
        reference * 1e3
    );
    println!("stage            time        x realtime   x reference");
    let row = |name: &str, t: f64, per_clip: bool| {
        let rt = if per_clip {
            secs / t
        } else {
            1.0 / (t * fps.as_f64())
        };
        println!(
            "{name:<16} {:>8.3} ms  {:>10.1}   {:>10.1}",
            t * 1e3,
            rt,
            t / reference
        );
    };
    row("audio decode", decode, true);
    row("resample 48k", resample, true);
    row("motion (learned)", motion, true);
    row("motion (energy)", motion_energy, true);
    row("render/frame", render, false);
}
