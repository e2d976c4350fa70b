//! Speed of the core's Whisper tiny.en encoder against candle-transformers'
//! Whisper encoder (tanh GELU, scalar element-wise ops) on the same 10 s
//! windows of 60 s of speech, with the same weights.
//!
//! The windows are those of the default chunking (10 s windows, 2 s context,
//! 2 s crossfade; see `voxportrait_core::motion::whisper`). Prints, per
//! row, the best of a few runs: wall seconds, the CPU seconds the process
//! used meanwhile (all threads), the real-time factor (audio seconds / wall
//! seconds) and per fully used core (audio seconds / CPU seconds); then how
//! many times slower candle-transformers is, and how far apart the two
//! encoders' features are.
//!
//! Rows:
//! - `ours: features_with`: the core's public entry point, log-mel and
//!   encoder, default chunking (the crossfades included), as in
//!   `bench/motion.rs`;
//! - `ours: encode_mel`, `candle-transformers`: the same log-mel windows,
//!   computed inside the timed loop, through each encoder one window at a
//!   time.
//!
//! Lives in `rust/voxportrait-xcheck` because candle-transformers is too
//! heavy to compile in CI. Run (from the repository root;
//! `RAYON_NUM_THREADS=2` to pin 2 threads):
//! `cargo bench -p voxportrait-xcheck --bench whisper_reference`.

use std::time::Instant;

use voxportrait_core::audio::{self, mel, LoadOptions};
use voxportrait_core::motion::whisper::{
    feature_count, ChunkOptions, WhisperEncoder, FEATURES_PER_SECOND, SAMPLE_RATE,
};
use voxportrait_xcheck::{candle_transformers_encoder, encode_mel, repo};

/// CPU time (user + system) this process has used, in seconds, from
/// `/proc/self/stat` (Linux; 10 ms resolution); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" closing the command name: utime and stime are the
    // 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Best of `n` runs: (wall seconds, CPU seconds of that run).
fn best_with_cpu<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    (0..n)
        .map(|_| {
            let c = cpu_seconds().unwrap_or(f64::NAN);
            let t = Instant::now();
            std::hint::black_box(f());
            (
                t.elapsed().as_secs_f64(),
                cpu_seconds().unwrap_or(f64::NAN) - c,
            )
        })
        .fold(
            (f64::INFINITY, f64::NAN),
            |a, b| if b.0 < a.0 { b } else { a },
        )
}

fn main() {
    let speech = audio::load_resampled(
        &repo("examples/speech.wav"),
        SAMPLE_RATE,
        &LoadOptions::default(),
    )
    .unwrap();
    // 60 s of speech: examples/speech.wav tiled.
    let n = 60 * SAMPLE_RATE as usize;
    let samples: Vec<f32> = speech.samples.iter().copied().cycle().take(n).collect();
    let secs = n as f64 / SAMPLE_RATE as f64;
    let ours = WhisperEncoder::new().unwrap();
    let mut reference = candle_transformers_encoder().unwrap();

    // The default chunking's windows: window k starts at feature k × hop
    // (mel frame 2 k × hop) and spans `window` features.
    let opts = ChunkOptions::default();
    let hop = opts.window - 2 * opts.context;
    let total = feature_count(samples.len());
    let windows = 1 + total.saturating_sub(opts.window).div_ceil(hop);
    let lm = mel::LogMel::new();
    let window_mel = |k: usize| {
        let mut m = Vec::new();
        lm.frames(&samples, 2 * k * hop, 2 * opts.window, &mut m);
        mel::normalize(&mut m);
        m
    };
    println!(
        "audio {secs:.0} s (examples/speech.wav tiled), {windows} windows of {} s; rayon threads {}",
        opts.window / FEATURES_PER_SECOND,
        rayon::current_num_threads()
    );

    println!(
        "{:<35} {:>9} {:>9} {:>12} {:>14}",
        "", "wall s", "CPU s", "x real time", "x RT per core"
    );
    let row = |name: &str, (t, cpu): (f64, f64)| {
        println!(
            "{name:<35} {t:>9.3} {cpu:>9.2} {:>12.1} {:>14.1}",
            secs / t,
            secs / cpu
        );
    };
    let chunked = best_with_cpu(3, || ours.features_with(&samples, &opts).unwrap());
    row("ours: features_with (default)", chunked);
    let same = best_with_cpu(3, || {
        for k in 0..windows {
            std::hint::black_box(ours.encode_mel(&window_mel(k), 1, opts.window).unwrap());
        }
    });
    row("ours: encode_mel, same windows", same);
    let theirs = best_with_cpu(2, || {
        for k in 0..windows {
            std::hint::black_box(encode_mel(&mut reference, window_mel(k), opts.window).unwrap());
        }
    });
    row("candle-transformers, same windows", theirs);
    println!(
        "candle-transformers / ours, same windows: {:.2}x wall, {:.2}x CPU",
        theirs.0 / same.0,
        theirs.1 / same.1
    );

    // Agreement on those windows (tanh against exact GELU).
    let (mut max, mut sum, mut count) = (0f32, 0f64, 0usize);
    for k in 0..windows {
        let m = window_mel(k);
        let a = ours.encode_mel(&m, 1, opts.window).unwrap();
        let b = encode_mel(&mut reference, m, opts.window).unwrap();
        for (x, y) in a.iter().zip(&b) {
            let d = (x - y).abs();
            max = max.max(d);
            sum += d as f64;
        }
        count += a.len();
    }
    println!(
        "features, ours vs candle-transformers: max abs diff {max:.2e}, mean {:.2e}",
        sum / count as f64
    );
}
