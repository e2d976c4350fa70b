//! Dub benchmark: the per-frame work of lip-sync dubbing on 720p frames
//! (tracking, landmark smoothing, mouth measurement, re-rendering), without
//! decoding and encoding, against real time at 25 fps in the same run.
//!
//! The frames are the example photo on a 1280×720 canvas, shifted by a few
//! pixels per frame so the tracker works as on video; the mouth follows the
//! example speech. End-to-end figures (decode and encode included) and
//! memory against video length: `bench/bench_dub.py`.
//!
//! The target: ≥ real time for 720p on 2 cores.
//! Run: `cargo bench -p voxportrait-core --bench dub`

use std::path::PathBuf;
use std::time::Instant;

use image::RgbImage;
use voxportrait_core::audio::{self, LoadOptions};
use voxportrait_core::dub::{DubOptions, Dubber};
use voxportrait_core::motion::engine::{audio_to_motion, MotionOptions};
use voxportrait_core::portrait;
use voxportrait_core::video::Fps;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn main() {
    let fps = Fps::new(25, 1).unwrap();
    let img = portrait::load_rgb(&repo("examples/portrait.png"), [255; 3]).unwrap();
    let clip = audio::load(&repo("examples/speech.wav"), &LoadOptions::default()).unwrap();
    let mut mo = MotionOptions::new(fps);
    mo.head.scale = 0.0;
    let track = audio_to_motion(&clip, &mo).unwrap().track;
    let face = image::imageops::resize(&img, 420, 420, image::imageops::FilterType::Triangle);
    let frames: Vec<RgbImage> = (0..100)
        .map(|i| {
            let mut canvas = RgbImage::from_pixel(1280, 720, image::Rgb([200, 198, 205]));
            let dx = (i % 10) as i64 - 5;
            image::imageops::overlay(&mut canvas, &face, 430 + dx, 200);
            canvas
        })
        .collect();
    let mut dubber = Dubber::new(fps, &DubOptions::default()).unwrap();
    // Warm up (model load, first detection).
    dubber.process(frames[0].clone(), &track.frames[0]).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let m = &track.frames[i % track.frames.len()];
            std::hint::black_box(dubber.process(f.clone(), m).unwrap());
        }
        best = best.min(t.elapsed().as_secs_f64() / frames.len() as f64);
    }
    let budget = 1.0 / fps.as_f64();
    println!(
        "dub 1280x720, {} frames, {} threads: {:.1} ms per frame = {:.2}x real time at 25 fps",
        frames.len(),
        rayon::current_num_threads(),
        best * 1e3,
        budget / best
    );
}
