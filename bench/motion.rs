//! Speed of the audio → motion stage. First the audio-feature part alone:
//! Whisper's log-mel front end plus the tiny.en encoder on 60 s of speech, in
//! the default chunking (10 s windows, 2 s context, 2 s crossfade, windows on
//! parallel threads) and in variants (windows one after another, batched
//! windows, window lengths). Then the whole stage, `audio_to_motion` from
//! 16 kHz samples to a 25 fps motion track (encoder, viseme head, Viterbi
//! decoding, coarticulation, prosody, head motion, blinks), on the 60 s clip
//! and on the 7.8 s example (one padded 10 s window), with both engines.
//!
//! Prints, per configuration, the best of a few runs: wall seconds, the CPU
//! seconds the process used meanwhile (all threads; on a shared machine the
//! wall time also counts waiting for other processes), the real-time factor
//! (audio seconds / wall seconds) and the real-time factor per fully used
//! core (audio seconds / CPU seconds). The issue asks for the whole
//! audio → motion stage at ≥ 50× real time on 2 cores, so the encoder must be
//! well above that.
//!
//! Run (from the repository root; `RAYON_NUM_THREADS=2` to pin 2 threads):
//! `cargo bench -p voxportrait-core --bench motion`. `-- --quick` runs only
//! the default configuration.
//!
//! The comparison with candle-transformers' Whisper encoder on the same
//! windows is `bench/whisper_reference.rs`, in the `voxportrait-xcheck`
//! crate (candle-transformers is too heavy to compile in CI):
//! `cargo bench -p voxportrait-xcheck --bench whisper_reference`.

use std::path::PathBuf;
use std::time::Instant;

use voxportrait_core::audio::{self, mel, AudioClip, LoadOptions};
use voxportrait_core::motion::engine::{audio_to_motion, MotionOptions, VisemeEngine};
use voxportrait_core::motion::whisper::{ChunkOptions, WhisperEncoder, SAMPLE_RATE};
use voxportrait_core::video::Fps;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

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
///
/// On a shared machine the wall time includes waiting for other processes;
/// the CPU time is the work done (all threads), so `audio / cpu` is the
/// real-time factor of one fully used core.
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

/// Best of `n` runs, wall seconds.
fn best<T>(n: usize, f: impl FnMut() -> T) -> f64 {
    best_with_cpu(n, f).0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
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
    let encoder = WhisperEncoder::new().unwrap();
    println!(
        "audio {secs:.0} s (examples/speech.wav tiled); rayon threads {}",
        rayon::current_num_threads()
    );

    let mel_time = best(5, || mel::log_mel_spectrogram(&samples));
    println!(
        "log-mel only (whole clip): {:.3} s, {:.0}x real time",
        mel_time,
        secs / mel_time
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
    let run = |name: &str, opts: ChunkOptions, repeats: usize| {
        let r = best_with_cpu(repeats, || encoder.features_with(&samples, &opts).unwrap());
        row(name, r);
        r.0
    };
    let default = run(
        "mel + encoder, default chunking",
        ChunkOptions::default(),
        3,
    );
    if !quick {
        run(
            "  batch of 2 windows",
            ChunkOptions {
                batch: 2,
                ..Default::default()
            },
            3,
        );
        run(
            "  batch of 4 windows",
            ChunkOptions {
                batch: 4,
                ..Default::default()
            },
            3,
        );
        run(
            "  windows one after another",
            ChunkOptions {
                parallel: false,
                ..Default::default()
            },
            3,
        );
        run(
            "  one after another, batch of 2",
            ChunkOptions {
                parallel: false,
                batch: 2,
                ..Default::default()
            },
            3,
        );
        run(
            "  20 s windows, 2 s context",
            ChunkOptions {
                window: 1000,
                ..Default::default()
            },
            3,
        );
        run(
            "  30 s windows, 2 s context",
            ChunkOptions {
                window: 1500,
                ..Default::default()
            },
            2,
        );
        run(
            "  10 s windows, 1 s context/fade",
            ChunkOptions {
                context: 50,
                crossfade: 50,
                ..Default::default()
            },
            3,
        );
    }
    println!(
        "encoder default: {:.1} ms per second of audio, {:.1}x real time",
        default / secs * 1e3,
        secs / default
    );

    // The whole stage, as `voxportrait motion` and `animate` run it (the
    // audio already decoded and at 16 kHz; decoding is in bench/stages.rs).
    let learned = MotionOptions::new(Fps::new(25, 1).unwrap());
    let energy = MotionOptions {
        engine: VisemeEngine::Energy,
        ..learned
    };
    let long = AudioClip::new(samples.clone(), SAMPLE_RATE);
    let whole = |name: &str, clip: &AudioClip, opts: &MotionOptions| {
        let secs = clip.duration_seconds();
        let (t, cpu) = best_with_cpu(3, || audio_to_motion(clip, opts).unwrap());
        println!(
            "{name:<35} {t:>9.3} {cpu:>9.2} {:>12.1} {:>14.1}",
            secs / t,
            secs / cpu
        );
        secs / t
    };
    println!("whole audio -> motion stage (25 fps track)");
    let stage = whole("  learned engine, 60 s", &long, &learned);
    whole("  learned engine, 7.8 s example", &speech, &learned);
    whole("  energy engine, 60 s", &long, &energy);
    println!("whole stage, learned engine, 60 s: {stage:.1}x real time (target >= 50x on 2 cores)");
}
