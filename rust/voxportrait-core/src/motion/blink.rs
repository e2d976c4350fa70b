//! Blinks and brow raises, from prosody and a seed.
//!
//! Blinks are a renewal process in continuous time, so the same seed gives
//! the same blinks at any fps: after each blink a refractory gap (1 s by
//! default), then a Gamma-distributed wait in "operational time" whose
//! clock runs faster in pauses and just after phrase ends (where people
//! blink most) and slower while speaking. Each blink lasts 100–300 ms,
//! closes in about 40 % of that and opens more slowly; some come as double
//! blinks. When sampled, every blink puts its peak closure on the frame
//! nearest its peak, so a blink shorter than a frame is never lost.
//!
//! Brow raises follow strong pitch accents: rise ~120 ms, hold, fall ~300 ms.

use super::prosody::{self, Prosody};
use super::rng::SplitMix64;
use crate::video::Fps;

/// Grid step of the operational clock, seconds.
const DT: f64 = 1.0 / prosody::RATE;
/// Refractory gap from the end of one blink to the start of the next at
/// ordinary rates, seconds.
const MIN_GAP: f64 = 1.0;
/// Share of blinks followed by a second, quick one.
const DOUBLE_CHANCE: f64 = 0.08;
/// Range of the gap inside a double blink, seconds.
const DOUBLE_GAP: (f64, f64) = (0.1, 0.25);
/// Median blink length, seconds (log-normal, clamped to 100–300 ms).
const MEDIAN_DURATION: f64 = 0.16;
/// Clock speed while speaking and in pauses, before normalising.
const SPEAKING_CLOCK: f32 = 0.55;
const PAUSE_CLOCK: f32 = 1.0;
/// Extra clock speed right after a phrase ends, decaying in 0.5 s.
const PHRASE_END_BOOST: f32 = 2.0;

/// Controls of [`blink_track`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlinkOptions {
    /// Mean blinks per minute (17 by default, like people talking; 0 turns
    /// blinking off). Above about 30 a minute the 1 s refractory gap
    /// shrinks to half the mean interval to fit.
    pub rate_per_minute: f32,
    /// Seed of the blink timing; the same seed gives the same blinks.
    pub seed: u64,
}

impl Default for BlinkOptions {
    fn default() -> Self {
        Self {
            rate_per_minute: 17.0,
            seed: 0,
        }
    }
}

/// One blink on the time line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blink {
    /// Start, seconds.
    pub start: f64,
    /// Length from first movement to fully open again, seconds (0.1–0.3).
    pub duration: f64,
    /// Time from the start to the deepest closure, seconds (35–45 % of the
    /// duration: eyes close fast and open slower).
    pub closing: f64,
    /// Deepest closure, 0.85–1.
    pub peak: f32,
    /// True for the second blink of a double blink, the only blinks that
    /// may follow the previous one closer than the refractory gap.
    pub double: bool,
}

impl Blink {
    /// Time of the deepest closure, seconds.
    pub fn peak_time(&self) -> f64 {
        self.start + self.closing
    }

    /// End, seconds.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// Eye closure 0..1 at time `t`: a sine ease down, a slower ease up.
    pub fn closure_at(&self, t: f64) -> f32 {
        let half_pi = std::f64::consts::FRAC_PI_2;
        let u = t - self.start;
        let v = if !(0.0..self.duration).contains(&u) {
            0.0
        } else if u < self.closing {
            (half_pi * u / self.closing).sin().powi(2)
        } else {
            (half_pi * (u - self.closing) / (self.duration - self.closing))
                .cos()
                .powi(2)
        };
        self.peak * v as f32
    }
}

/// The blinks of a clip lasting `seconds` (at least the prosody's length).
/// Depends on the prosody, the rate and the seed only, never on the fps.
pub fn blink_events(prosody: &Prosody, seconds: f64, opts: &BlinkOptions) -> Vec<Blink> {
    let rate = opts.rate_per_minute;
    if !rate.is_finite() || rate <= 0.0 {
        return Vec::new();
    }
    let seconds = seconds.max(prosody.duration_seconds());
    let clock = Clock::new(prosody, seconds);
    let mut rng = SplitMix64(opts.seed ^ 0xB11E_B11E_0000_0017);
    let timing = Timing::for_rate(rate as f64);
    let mut out: Vec<Blink> = Vec::new();
    // The first wait is a random fraction of one, as if the clip started
    // mid-way between two blinks.
    let mut ready = 0.0;
    let mut wait = rng.unit() * (timing.gap + timing.wait);
    loop {
        let start = clock.advance(ready, wait);
        if start >= seconds {
            break;
        }
        let first = new_blink(&mut rng, start, 1.0, false);
        out.push(first);
        let mut last = first;
        if rng.unit() < DOUBLE_CHANCE {
            let gap = DOUBLE_GAP.0 + (DOUBLE_GAP.1 - DOUBLE_GAP.0) * rng.unit();
            let second = new_blink(&mut rng, first.end() + gap, 0.85, true);
            if second.start < seconds {
                out.push(second);
                last = second;
            }
        }
        ready = last.end() + timing.gap;
        wait = timing.wait * gamma2(&mut rng);
    }
    out
}

/// Eye closure 0..1 for `frames` frames at `fps` (frame `i` at `i / fps`
/// seconds); the same curve serves both eyes. Every blink reaches its peak
/// closure (≥ 0.85) on the frame nearest its deepest point, so even a blink
/// shorter than a frame shows.
pub fn blink_track(prosody: &Prosody, fps: Fps, frames: usize, opts: &BlinkOptions) -> Vec<f32> {
    let seconds = frames as f64 / fps.as_f64();
    render_blinks(&blink_events(prosody, seconds, opts), fps, frames)
}

/// Samples blinks at the frames: the closure curve at each frame time, and
/// each blink's peak on the frame nearest its deepest point.
fn render_blinks(blinks: &[Blink], fps: Fps, frames: usize) -> Vec<f32> {
    let rate = fps.as_f64();
    let mut out = vec![0.0f32; frames];
    for blink in blinks {
        let first = (blink.start * rate).ceil() as usize;
        let last = ((blink.end() * rate).floor() as usize).min(frames.saturating_sub(1));
        for (i, v) in out.iter_mut().enumerate().take(last + 1).skip(first) {
            *v = v.max(blink.closure_at(i as f64 / rate));
        }
        if let Some(v) = out.get_mut((blink.peak_time() * rate).round() as usize) {
            *v = v.max(blink.peak);
        }
    }
    out
}

/// Refractory gap and mean extra wait that give a requested rate.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Gap from a blink's end to the next possible start, seconds.
    gap: f64,
    /// Mean of the Gamma wait after the gap, operational seconds.
    wait: f64,
}

impl Timing {
    /// Solves mean interval = blink + double part + gap + wait for the
    /// rate; at high rates the gap shrinks to half the interval.
    fn for_rate(per_minute: f64) -> Self {
        let interval = 60.0 * (1.0 + DOUBLE_CHANCE) / per_minute;
        let blink = MEDIAN_DURATION * 1.03;
        let busy = blink + DOUBLE_CHANCE * (0.5 * (DOUBLE_GAP.0 + DOUBLE_GAP.1) + 0.85 * blink);
        let gap = MIN_GAP.min(interval / 2.0);
        Self {
            gap,
            wait: (interval - busy - gap).max(0.2 * interval),
        }
    }
}

/// A Gamma(2) variate with mean 1: more regular than exponential waits, as
/// real blink intervals are.
fn gamma2(rng: &mut SplitMix64) -> f64 {
    -0.5 * ((1.0 - rng.unit()) * (1.0 - rng.unit())).ln()
}

/// A blink starting at `start`, its length scaled by `length`.
fn new_blink(rng: &mut SplitMix64, start: f64, length: f64, double: bool) -> Blink {
    let duration = (MEDIAN_DURATION * (0.25 * rng.normal()).exp() * length).clamp(0.1, 0.3);
    Blink {
        start,
        duration,
        closing: duration * (0.35 + 0.1 * rng.unit()),
        peak: 0.85 + 0.15 * rng.unit().sqrt() as f32,
        double,
    }
}

/// Operational time: a clock that runs at 0.55 while speaking, 1 in
/// pauses and up to 3 just after a phrase ends, normalised to average 1
/// over the clip, so the rate holds and the blinks move to the pauses.
struct Clock {
    /// Clock speed per grid step.
    speed: Vec<f32>,
}

impl Clock {
    fn new(prosody: &Prosody, seconds: f64) -> Self {
        let n = (seconds / DT).ceil() as usize + 1;
        let mut speed = Vec::with_capacity(n);
        let (mut speaking, mut since_end) = (false, f32::INFINITY);
        for k in 0..n {
            let a = prosody.activity_at(k as f64 * DT);
            if speaking && a < 0.5 {
                since_end = 0.0;
            }
            speaking = a >= 0.5;
            let boost = if speaking {
                0.0
            } else {
                PHRASE_END_BOOST * (-since_end / 0.5).exp()
            };
            since_end += DT as f32;
            speed.push(SPEAKING_CLOCK * a + PAUSE_CLOCK * (1.0 - a) + boost);
        }
        let mean = speed.iter().map(|&s| s as f64).sum::<f64>() / n as f64;
        speed
            .iter_mut()
            .for_each(|s| *s = (*s as f64 / mean) as f32);
        Self { speed }
    }

    /// The real time at which `amount` operational seconds have passed
    /// since real time `from` (past the clip, the clock runs at 1).
    fn advance(&self, from: f64, amount: f64) -> f64 {
        let mut k = (from / DT).floor().max(0.0) as usize;
        let mut t = from;
        let mut left = amount;
        while let Some(&s) = self.speed.get(k) {
            let step_end = (k + 1) as f64 * DT;
            let can = (step_end - t).max(0.0) * s as f64;
            if can >= left {
                return t + left / s as f64;
            }
            left -= can;
            t = step_end;
            k += 1;
        }
        t + left
    }
}

/// Controls of [`brow_track`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrowOptions {
    /// Multiplies the brow raises (1 = default, 0 = none).
    pub scale: f32,
}

impl Default for BrowOptions {
    fn default() -> Self {
        Self { scale: 1.0 }
    }
}

/// Pitch accent a prominence needs to raise the brows.
const BROW_MIN_ACCENT: f32 = 0.45;
/// Shortest time between two brow raises' accents, seconds.
const BROW_REFRACTORY: f64 = 1.2;
/// Chance that an eligible accent raises the brows.
const BROW_CHANCE: f64 = 0.75;
/// Rise and fall times of a raise, seconds.
const BROW_RISE: f64 = 0.12;
const BROW_FALL: f64 = 0.3;

/// One brow raise on the time line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BrowRaise {
    /// Start of the rise, seconds (the brows are up at the accent).
    start: f64,
    /// Time held fully raised, seconds.
    hold: f64,
    /// Height (`brow_raise` coefficient) at scale 1.
    height: f32,
}

impl BrowRaise {
    /// Height at time `t`: sine-eased rise, hold, sine-eased fall.
    fn at(&self, t: f64) -> f32 {
        let half_pi = std::f64::consts::FRAC_PI_2;
        let u = t - self.start;
        let v = if u <= 0.0 {
            0.0
        } else if u < BROW_RISE {
            (half_pi * u / BROW_RISE).sin().powi(2)
        } else if u < BROW_RISE + self.hold {
            1.0
        } else if u < BROW_RISE + self.hold + BROW_FALL {
            (half_pi * (u - BROW_RISE - self.hold) / BROW_FALL)
                .cos()
                .powi(2)
        } else {
            0.0
        };
        self.height * v as f32
    }

    fn end(&self) -> f64 {
        self.start + BROW_RISE + self.hold + BROW_FALL
    }
}

/// Brow raises placed on the strong pitch accents.
fn brow_raises(prosody: &Prosody, seed: u64) -> Vec<BrowRaise> {
    let mut rng = SplitMix64(seed ^ 0xB0A0_0000_0000_0B0A);
    let mut out: Vec<BrowRaise> = Vec::new();
    let mut last_accent = f64::NEG_INFINITY;
    for e in &prosody.prominences {
        let (chance, hold, jitter) = (rng.unit(), rng.unit(), rng.unit() as f32);
        if e.pitch_accent < BROW_MIN_ACCENT
            || chance >= BROW_CHANCE
            || e.time - last_accent < BROW_REFRACTORY
        {
            continue;
        }
        last_accent = e.time;
        out.push(BrowRaise {
            start: e.time - 0.8 * BROW_RISE,
            hold: 0.1 + 0.25 * hold,
            height: (0.25 + 0.45 * e.pitch_accent) * (0.85 + 0.3 * jitter),
        });
    }
    out
}

/// Brow raise coefficient for `frames` frames at `fps`: raises on strong
/// pitch accents (rise ~120 ms before the accent, hold, fall ~300 ms),
/// seeded, times `opts.scale` (0 gives all zeros).
pub fn brow_track(
    prosody: &Prosody,
    fps: Fps,
    frames: usize,
    opts: &BrowOptions,
    seed: u64,
) -> Vec<f32> {
    let mut out = vec![0.0f32; frames];
    if opts.scale == 0.0 {
        return out;
    }
    for raise in brow_raises(prosody, seed) {
        let first = (raise.start * fps.as_f64()).floor().max(0.0) as usize;
        let last = ((raise.end() * fps.as_f64()).ceil() as usize).min(frames);
        for (i, v) in out.iter_mut().enumerate().take(last).skip(first) {
            *v = v.max(raise.at(i as f64 / fps.as_f64()));
        }
    }
    out.iter_mut().for_each(|v| *v *= opts.scale);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::prosody::{speech_like, Prominence};

    fn fps(n: u32) -> Fps {
        Fps::new(n, 1).unwrap()
    }

    fn per_minute(blinks: &[Blink], seconds: f64) -> f64 {
        blinks.len() as f64 * 60.0 / seconds
    }

    #[test]
    fn default_rate_is_15_to_20_per_minute_in_speech_and_idle() {
        let talk = speech_like(300.0, 1);
        let idle = Prosody::silent(300.0);
        let mut rates = Vec::new();
        for seed in 0..6 {
            let opts = BlinkOptions {
                seed,
                ..Default::default()
            };
            for p in [&talk, &idle] {
                let r = per_minute(&blink_events(p, 300.0, &opts), 300.0);
                assert!((13.0..=22.0).contains(&r), "seed {seed}: {r:.1}/min");
                rates.push(r);
            }
        }
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        assert!((15.0..=19.0).contains(&mean), "mean {mean:.1}/min");
    }

    #[test]
    fn rate_control_and_off_switch() {
        let p = speech_like(300.0, 2);
        for want in [6.0f32, 30.0, 50.0] {
            let got = per_minute(
                &blink_events(
                    &p,
                    300.0,
                    &BlinkOptions {
                        rate_per_minute: want,
                        seed: 3,
                    },
                ),
                300.0,
            );
            assert!(
                (got / want as f64 - 1.0).abs() < 0.3,
                "asked {want}, got {got:.1}"
            );
        }
        let off = BlinkOptions {
            rate_per_minute: 0.0,
            seed: 3,
        };
        assert!(blink_events(&p, 300.0, &off).is_empty());
        assert!(blink_track(&p, fps(25), 7500, &off)
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn blinks_last_100_to_300_ms_and_close_faster_than_they_open() {
        let p = speech_like(300.0, 4);
        let blinks = blink_events(&p, 300.0, &BlinkOptions::default());
        let mut durations: Vec<f64> = blinks.iter().map(|b| b.duration).collect();
        for b in &blinks {
            assert!((0.1..=0.3).contains(&b.duration), "{b:?}");
            assert!(
                b.closing < 0.5 * b.duration && b.closing > 0.3 * b.duration,
                "{b:?}"
            );
            assert!(b.peak >= 0.85 && b.peak <= 1.0);
        }
        durations.sort_by(|a, b| a.total_cmp(b));
        let median = durations[durations.len() / 2];
        assert!((0.13..0.2).contains(&median), "median {median}");
    }

    #[test]
    fn blinks_keep_a_refractory_gap_except_double_blinks() {
        let p = speech_like(300.0, 5);
        let blinks = blink_events(&p, 300.0, &BlinkOptions::default());
        let doubles = blinks.iter().filter(|b| b.double).count();
        assert!(
            doubles >= 1 && doubles * 6 < blinks.len(),
            "{doubles} of {}",
            blinks.len()
        );
        for w in blinks.windows(2) {
            let gap = w[1].start - w[0].end();
            if w[1].double {
                assert!((0.1..=0.25).contains(&gap), "double gap {gap}");
            } else {
                assert!(gap >= MIN_GAP - 1e-9, "gap {gap} s");
            }
        }
    }

    #[test]
    fn blinks_prefer_pauses_and_phrase_ends() {
        let p = speech_like(600.0, 6);
        let (mut in_pause, mut in_speech) = (0usize, 0usize);
        for seed in 0..4 {
            for b in blink_events(
                &p,
                600.0,
                &BlinkOptions {
                    seed,
                    ..Default::default()
                },
            ) {
                if p.activity_at(b.start) < 0.5 {
                    in_pause += 1;
                } else {
                    in_speech += 1;
                }
            }
        }
        let pause_share = p.activity.iter().filter(|&&a| a < 0.5).count() as f64 / p.len() as f64;
        let pause_rate = in_pause as f64 / pause_share;
        let speech_rate = in_speech as f64 / (1.0 - pause_share);
        assert!(
            pause_rate > 1.5 * speech_rate,
            "pause {pause_rate:.0} vs speech {speech_rate:.0}"
        );
    }

    #[test]
    fn every_blink_shows_at_12_25_and_60_fps() {
        let p = speech_like(120.0, 7);
        let opts = BlinkOptions {
            seed: 8,
            ..Default::default()
        };
        let blinks = blink_events(&p, 120.0, &opts);
        for rate in [12, 25, 60] {
            let f = fps(rate);
            let track = blink_track(&p, f, 120 * rate as usize, &opts);
            for b in &blinks {
                let nearest = (b.peak_time() * rate as f64).round() as usize;
                assert!(
                    track[nearest] >= 0.8,
                    "{rate} fps: {b:?} -> {}",
                    track[nearest]
                );
            }
            // Closed runs (>= 0.8) never outnumber the blinks, and the eyes
            // are open (< 0.05) most of the time.
            let open = track.iter().filter(|&&v| v < 0.05).count() as f64 / track.len() as f64;
            assert!(open > 0.85, "{rate} fps: open {open}");
            assert!(track.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn a_blink_shorter_than_a_frame_is_not_lost() {
        let b = Blink {
            start: 1.02,
            duration: 0.1,
            closing: 0.04,
            peak: 0.9,
            double: false,
        };
        // At 12 fps the frames around it are at 1.0 and 1.083 s, where the
        // curve is 0 and 0.67; the one nearest the peak (1.06 s) gets it.
        assert!(b.closure_at(1.0) < 0.1 && b.closure_at(1.0 + 1.0 / 12.0) < 0.8);
        let track = render_blinks(&[b], fps(12), 24);
        assert_eq!(track[13], 0.9);
        assert_eq!(track.iter().filter(|&&v| v > 0.0).count(), 1);
        // At 60 fps the curve itself is sampled, the nearest frame peaking.
        let fine = render_blinks(&[b], fps(60), 120);
        assert_eq!(fine[64], 0.9);
        assert!(fine[62] > 0.0 && fine[62] < fine[63] && fine[65] < fine[64]);
    }

    #[test]
    fn blink_times_do_not_depend_on_fps_and_follow_the_seed() {
        let p = speech_like(60.0, 9);
        let opts = BlinkOptions {
            seed: 1,
            ..Default::default()
        };
        let a = blink_track(&p, fps(25), 1500, &opts);
        let b = blink_track(&p, fps(50), 3000, &opts);
        for i in 0..1500 {
            assert!(
                (a[i] - b[2 * i]).abs() < 1e-6 || a[i] >= 0.8 || b[2 * i] >= 0.8,
                "frame {i}"
            );
        }
        let other = blink_events(
            &p,
            60.0,
            &BlinkOptions {
                seed: 2,
                ..Default::default()
            },
        );
        assert_ne!(blink_events(&p, 60.0, &opts), other);
        assert_eq!(blink_events(&p, 60.0, &opts), blink_events(&p, 60.0, &opts));
    }

    #[test]
    fn idle_clips_blink() {
        let p = Prosody::silent(30.0);
        let track = blink_track(&p, fps(25), 750, &BlinkOptions::default());
        let closed_runs = track
            .windows(2)
            .filter(|w| w[0] < 0.8 && w[1] >= 0.8)
            .count();
        assert!(
            (4..=14).contains(&closed_runs),
            "{closed_runs} blinks in 30 s"
        );
    }

    fn accents(times: &[(f64, f32)]) -> Prosody {
        let mut p = Prosody::silent(8.0);
        for &(time, accent) in times {
            p.prominences.push(Prominence {
                time,
                strength: accent,
                pitch_accent: accent,
            });
        }
        p
    }

    #[test]
    fn brows_rise_on_strong_accents_only() {
        let p = accents(&[(1.0, 0.2), (2.0, 0.9), (3.0, 0.3), (5.0, 0.95), (6.5, 0.1)]);
        let (mut hits, mut tries) = (0, 0);
        for seed in 0..8 {
            let track = brow_track(&p, fps(25), 200, &BrowOptions::default(), seed);
            for (time, accent) in [(1.0, 0.2), (2.0, 0.9), (3.0, 0.3), (5.0, 0.95), (6.5, 0.1)] {
                let at = (time * 25.0) as usize;
                let peak = track[at - 5..at + 8].iter().fold(0.0f32, |m, &v| m.max(v));
                if accent < BROW_MIN_ACCENT {
                    assert!(peak < 0.01, "seed {seed}: raise on a weak accent at {time}");
                } else {
                    tries += 1;
                    if peak > 0.3 {
                        hits += 1;
                        // Up at the accent: rises ~0.1 s before, falls after.
                        assert!(track[at] > 0.8 * peak, "seed {seed}: late at {time}");
                        assert!(track[at - 5] < 0.1 * peak, "seed {seed}: early at {time}");
                    }
                }
            }
        }
        assert!(hits * 2 > tries, "{hits} raises for {tries} strong accents");
    }

    #[test]
    fn brow_shape_and_scale() {
        let p = accents(&[(2.0, 1.0)]);
        let seed = (0..20)
            .find(|&s| !brow_raises(&p, s).is_empty())
            .expect("a seed that raises");
        let r = brow_raises(&p, seed)[0];
        let t = |dt: f64| r.at(r.start + dt) / r.height;
        assert!(t(0.06) > 0.3 && t(0.06) < 0.7, "rise half-way at 60 ms");
        assert!((t(BROW_RISE + 0.05) - 1.0).abs() < 1e-6, "hold");
        let fall = BROW_RISE + r.hold;
        assert!(
            t(fall + 0.15) > 0.3 && t(fall + 0.15) < 0.7,
            "fall half-way at 150 ms"
        );
        assert_eq!(t(fall + BROW_FALL + 0.01), 0.0);
        let one = brow_track(&p, fps(30), 240, &BrowOptions::default(), seed);
        let two = brow_track(&p, fps(30), 240, &BrowOptions { scale: 2.0 }, seed);
        let off = brow_track(&p, fps(30), 240, &BrowOptions { scale: 0.0 }, seed);
        assert!(one
            .iter()
            .zip(&two)
            .all(|(a, b)| (2.0 * a - b).abs() < 1e-6));
        assert!(one.iter().any(|&v| v > 0.2));
        assert!(off.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn brow_raises_line_up_with_accents_in_real_speech() {
        let clip = crate::audio::load(
            &crate::testdata::example("speech.wav"),
            &crate::audio::LoadOptions::default(),
        )
        .unwrap();
        let p = prosody::analyze(&clip);
        let raises: Vec<BrowRaise> = (0..4).flat_map(|s| brow_raises(&p, s)).collect();
        assert!(!raises.is_empty(), "no brow raise in 7.8 s of speech");
        for r in &raises {
            let accent = r.start + 0.8 * BROW_RISE;
            let e = p
                .prominences
                .iter()
                .find(|e| (e.time - accent).abs() < 1e-9)
                .expect("raise on a prominence");
            assert!(e.pitch_accent >= BROW_MIN_ACCENT);
            assert!(p.activity_at(accent) > 0.5);
        }
    }
}
