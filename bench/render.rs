//! Renderer benchmark: the mesh warp + composite, against a straightforward
//! reference implementation of the same warp in the same process.
//!
//! - **mesh renderer**: `Renderer::render_into` over the first 125 frames
//!   of the example speech's motion (512², resize framing), on all threads
//!   and, for the like-for-like comparison, on one thread.
//! - **reference**: the same control mesh and targets, done the plain way,
//!   as a per-frame dense map then a remap (what OpenCV's `remap` with a
//!   map built per frame, or scikit-image's `PiecewiseAffineTransform`,
//!   does): every triangle's bounding box is visited pixel by pixel with a
//!   barycentric inside test, writing the source position into a map; then
//!   one pass samples the source bilinearly through the map. One thread,
//!   like those libraries.
//!
//! Every row is timed the same way: the same frames, best of 3 passes. The
//! speed-up is quoted one thread against one thread.
//! - **full frame 1920×1080**: the portrait placed on a 1080p canvas,
//!   framing `full`. There is no paste-back step: the motion fades to zero
//!   at the rig's outer ring, and the rest of the frame is the source's
//!   bytes, so the "paste-back" is the frame copy, reported separately.
//!
//! The targets: ≥ 100 fps for 512² on 2 cores.
//! Run: `cargo bench -p voxportrait-core --bench render`
//! (`RAYON_NUM_THREADS=2` to pin two threads).

use std::path::PathBuf;
use std::time::Instant;

use image::RgbImage;
use voxportrait_core::audio::{self, LoadOptions};
use voxportrait_core::face::analyze::{AnalyzeOptions, FaceAnalyzer};
use voxportrait_core::motion::engine::{audio_to_motion, MotionOptions};
use voxportrait_core::motion::MotionFrame;
use voxportrait_core::portrait;
use voxportrait_core::render::raster::{sample, to_u8, Affine};
use voxportrait_core::render::{framing, Framing, Renderer};
use voxportrait_core::video::Fps;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Seconds per frame over all `frames`, best of `runs` passes.
fn per_frame(runs: usize, frames: &[MotionFrame], mut f: impl FnMut(&MotionFrame)) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            for m in frames {
                f(m);
            }
            t.elapsed().as_secs_f64() / frames.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The reference warp: dense map by brute-force point-in-triangle tests,
/// then a remap. Same triangles, same culling and painter's order as the
/// renderer (but no mouth interior or lash line: the renderer does more).
fn reference_render(r: &Renderer, m: &MotionFrame, map: &mut [[f32; 2]], out: &mut [u8]) {
    let (w, h) = (r.width() as usize, r.height() as usize);
    let rig = r.rig();
    let g = rig.targets(m);
    for (i, p) in map.iter_mut().enumerate() {
        *p = [(i % w) as f32, (i / w) as f32];
    }
    let mut tris: Vec<(f32, [[f32; 2]; 3], Affine)> = Vec::new();
    for t in &rig.triangles {
        let [a, b, c] = t.v.map(|i| i as usize);
        let dst = [a, b, c].map(|i| [g.target[i][0], g.target[i][1]]);
        let area = (dst[1][0] - dst[0][0]) * (dst[2][1] - dst[0][1])
            - (dst[1][1] - dst[0][1]) * (dst[2][0] - dst[0][0]);
        if area * rig.front_sign <= 0.0 {
            continue;
        }
        if let Some(aff) = Affine::between(dst, [rig.source[a], rig.source[b], rig.source[c]]) {
            let depth = if t.face {
                (g.target[a][2] + g.target[b][2] + g.target[c][2]) / 3.0
            } else {
                f32::INFINITY
            };
            tris.push((depth, dst, aff));
        }
    }
    tris.sort_by(|x, y| y.0.total_cmp(&x.0));
    for (_, t, aff) in &tris {
        let x0 = t.iter().map(|p| p[0]).fold(f32::MAX, f32::min).max(0.0) as usize;
        let x1 = (t.iter().map(|p| p[0]).fold(f32::MIN, f32::max).max(0.0) as usize).min(w - 1);
        let y0 = t.iter().map(|p| p[1]).fold(f32::MAX, f32::min).max(0.0) as usize;
        let y1 = (t.iter().map(|p| p[1]).fold(f32::MIN, f32::max).max(0.0) as usize).min(h - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let p = [x as f32, y as f32];
                let edge = |a: [f32; 2], b: [f32; 2]| {
                    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
                };
                let (e0, e1, e2) = (edge(t[0], t[1]), edge(t[1], t[2]), edge(t[2], t[0]));
                let inside =
                    (e0 >= 0.0 && e1 >= 0.0 && e2 >= 0.0) || (e0 <= 0.0 && e1 <= 0.0 && e2 <= 0.0);
                if inside {
                    let (sx, sy) = aff.apply(p[0], p[1]);
                    map[y * w + x] = [sx, sy];
                }
            }
        }
    }
    for (i, px) in out.chunks_exact_mut(3).enumerate() {
        px.copy_from_slice(&to_u8(sample(r.source(), map[i][0], map[i][1])));
    }
}

fn main() {
    let img = portrait::load_rgb(&repo("examples/portrait.png"), [255; 3]).unwrap();
    let clip = audio::load(&repo("examples/speech.wav"), &LoadOptions::default()).unwrap();
    let track = audio_to_motion(&clip, &MotionOptions::new(Fps::new(25, 1).unwrap()))
        .unwrap()
        .track;
    let analyzer = FaceAnalyzer::shared().unwrap();
    let opts = AnalyzeOptions {
        iris: false,
        ..Default::default()
    };
    let face = analyzer.analyze(&img, &opts).unwrap().remove(0);
    let framed = framing::frame(
        &img,
        &face,
        analyzer.canonical(),
        Framing::Resize { size: 512 },
    )
    .unwrap();
    let r = Renderer::new(framed.image, &framed.face, analyzer.canonical()).unwrap();
    let (w, h) = (r.width() as usize, r.height() as usize);
    let mut out = vec![0u8; w * h * 3];
    let frames = &track.frames[..track.frames.len().min(125)];
    let threads = rayon::current_num_threads();

    let copy = per_frame(3, frames, |_| out.copy_from_slice(r.source().as_raw()));
    let ours = per_frame(3, frames, |m| r.render_into(m, &mut out, None));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let ours_one = one.install(|| per_frame(3, frames, |m| r.render_into(m, &mut out, None)));
    let mut map = vec![[0.0f32; 2]; w * h];
    let reference = per_frame(3, frames, |m| reference_render(&r, m, &mut map, &mut out));
    println!(
        "renderer, {w}x{h}, {} frames of real speech motion, best of 3 passes each",
        frames.len()
    );
    println!(
        "  frame copy (floor)                 {:>8.3} ms",
        copy * 1e3
    );
    println!(
        "  mesh renderer, {threads} threads          {:>8.3} ms  {:>7.1} fps",
        ours * 1e3,
        1.0 / ours
    );
    println!(
        "  mesh renderer, 1 thread            {:>8.3} ms  {:>7.1} fps",
        ours_one * 1e3,
        1.0 / ours_one
    );
    println!(
        "  reference map + remap, 1 thread    {:>8.3} ms  {:>7.1} fps   ours is {:.1}x faster \
         on 1 thread ({:.1}x with {threads})",
        reference * 1e3,
        1.0 / reference,
        reference / ours_one,
        reference / ours
    );

    // Full frame: the portrait on a 1920x1080 canvas, framing full.
    let small = image::imageops::resize(&img, 760, 760, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(1920, 1080, image::Rgb([200, 198, 205]));
    image::imageops::overlay(&mut canvas, &small, 580, 320);
    let face = analyzer.analyze(&canvas, &opts).unwrap().remove(0);
    let framed = framing::frame(&canvas, &face, analyzer.canonical(), Framing::Full).unwrap();
    let full = Renderer::new(framed.image, &framed.face, analyzer.canonical()).unwrap();
    let mut big = vec![0u8; 1920 * 1080 * 3];
    let full_copy = per_frame(3, frames, |_| big.copy_from_slice(full.source().as_raw()));
    let full_t = per_frame(3, frames, |m| full.render_into(m, &mut big, None));
    println!("full frame 1920x1080 (face about 560 px tall)");
    println!(
        "  mesh renderer, {threads} threads          {:>8.3} ms  {:>7.1} fps",
        full_t * 1e3,
        1.0 / full_t
    );
    println!(
        "  of which paste-back (frame copy) {:>6.3} ms = {:.0}% of the frame",
        full_copy * 1e3,
        100.0 * full_copy / full_t
    );
}
