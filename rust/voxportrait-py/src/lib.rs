//! Python binding of `voxportrait-core`: the `voxportrait._native` module.
//!
//! Thin on purpose: it converts arguments, releases the GIL around every
//! heavy call, hands numpy arrays in and out, and turns core errors into the
//! package's exception classes. A Rust panic never crosses into Python: it is
//! caught here and raised as `InternalError` with its message.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Mutex, Once};

use numpy::ndarray::Array3;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use voxportrait_core as core;
use voxportrait_core::motion::engine::VisemeEngine;
use voxportrait_core::motion::head::HeadPreset;
use voxportrait_core::motion::MotionTrack;
use voxportrait_core::video::{Fps, OutputFormat};

create_exception!(
    voxportrait,
    VoxPortraitError,
    PyException,
    "Base class of every VoxPortrait error."
);
create_exception!(
    voxportrait,
    InputError,
    VoxPortraitError,
    "An input file or parameter is unusable."
);
create_exception!(
    voxportrait,
    OutputError,
    VoxPortraitError,
    "The output cannot be written."
);
create_exception!(
    voxportrait,
    EncoderError,
    VoxPortraitError,
    "ffmpeg is missing or failed."
);
create_exception!(
    voxportrait,
    CancelledError,
    VoxPortraitError,
    "The job was cancelled."
);
create_exception!(
    voxportrait,
    InternalError,
    VoxPortraitError,
    "A bug inside VoxPortrait (a caught Rust panic); please report it."
);

/// Where the last panic happened, recorded by our quiet panic hook.
static LAST_PANIC_LOCATION: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the default hook (which prints to stderr) in this library only:
/// panics are reported once, as a Python exception, by [`guarded`].
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            if let Ok(mut slot) = LAST_PANIC_LOCATION.lock() {
                *slot = loc;
            }
        }));
    });
}

/// Result of a guarded core call: a core error, or a caught panic.
enum Fault {
    Core(core::Error),
    Panic(String),
}

/// Runs `f`, catching panics so they cannot unwind into Python.
fn guarded<T>(f: impl FnOnce() -> core::Result<T>) -> Result<T, Fault> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(Fault::Core),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let loc = LAST_PANIC_LOCATION.lock().ok().and_then(|mut s| s.take());
            Err(Fault::Panic(match loc {
                Some(l) => format!("{msg} (at {l})"),
                None => msg,
            }))
        }
    }
}

impl From<Fault> for PyErr {
    fn from(f: Fault) -> PyErr {
        match f {
            Fault::Core(core::Error::Input(m)) => InputError::new_err(m),
            Fault::Core(core::Error::Output(m)) => OutputError::new_err(m),
            Fault::Core(core::Error::Encoder(m)) => EncoderError::new_err(m),
            Fault::Core(core::Error::Cancelled) => CancelledError::new_err("cancelled"),
            Fault::Core(core::Error::Internal(m)) => InternalError::new_err(m),
            Fault::Panic(m) => InternalError::new_err(format!(
                "internal error in VoxPortrait (a bug; please report it): {m}"
            )),
        }
    }
}

/// Runs a core call with the GIL released and panics caught.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> core::Result<T> + Send) -> PyResult<T> {
    py.detach(|| guarded(f)).map_err(PyErr::from)
}

/// Version of the native core.
#[pyfunction]
fn version() -> &'static str {
    core::VERSION
}

/// Parses a frame rate ("25", "29.97", "30000/1001") into (num, den).
#[pyfunction]
fn parse_fps(text: &str) -> PyResult<(u32, u32)> {
    let fps = guarded(|| Fps::parse(text))?;
    Ok((fps.num(), fps.den()))
}

/// Number of frames `round(duration * fps)` for `samples` at `sample_rate`.
#[pyfunction]
fn frame_count(fps: &str, samples: u64, sample_rate: u32) -> PyResult<u64> {
    let fps = guarded(|| Fps::parse(fps))?;
    Ok(fps.frame_count(samples, sample_rate))
}

/// Decodes an audio file to mono float32; resampled when `sample_rate` is given.
/// Returns `(samples, sample_rate)`.
#[pyfunction]
#[pyo3(signature = (path, sample_rate=None, max_seconds=core::audio::DEFAULT_MAX_SECONDS))]
fn load_audio<'py>(
    py: Python<'py>,
    path: PathBuf,
    sample_rate: Option<u32>,
    max_seconds: f64,
) -> PyResult<(Bound<'py, PyArray1<f32>>, u32)> {
    let opts = core::audio::LoadOptions { max_seconds };
    let clip = run(py, || {
        let clip = core::audio::load(&path, &opts)?;
        match sample_rate {
            Some(r) => core::audio::resample(&clip, r),
            None => Ok(clip),
        }
    })?;
    Ok((PyArray1::from_vec(py, clip.samples), clip.sample_rate))
}

/// Resamples mono float32 samples from `from_rate` to `to_rate`.
#[pyfunction]
fn resample<'py>(
    py: Python<'py>,
    samples: PyReadonlyArray1<'py, f32>,
    from_rate: u32,
    to_rate: u32,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let clip = core::audio::AudioClip::new(samples.as_array().to_vec(), from_rate);
    let out = run(py, || core::audio::resample(&clip, to_rate))?;
    Ok(PyArray1::from_vec(py, out.samples))
}

/// Decodes an image upright (EXIF) to uint8 `(H, W, 3)`, or `(H, W, 4)` with
/// `alpha="keep"`; `alpha="composite"` blends over `background`.
#[pyfunction]
#[pyo3(signature = (path, alpha="composite", background=(255, 255, 255)))]
fn load_image<'py>(
    py: Python<'py>,
    path: PathBuf,
    alpha: &str,
    background: (u8, u8, u8),
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let keep = match alpha {
        "keep" => true,
        "composite" => false,
        other => {
            return Err(InputError::new_err(format!(
                "alpha must be \"composite\" or \"keep\", not {other:?}"
            )))
        }
    };
    let bg = [background.0, background.1, background.2];
    let (w, h, c, data) = run(py, || {
        Ok(if keep {
            let img = core::portrait::load_rgba(&path)?;
            (img.width(), img.height(), 4usize, img.into_raw())
        } else {
            let img = core::portrait::load_rgb(&path, bg)?;
            (img.width(), img.height(), 3usize, img.into_raw())
        })
    })?;
    let arr = Array3::from_shape_vec((h as usize, w as usize, c), data)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// Finds a working ffmpeg: `explicit`, `$VOXPORTRAIT_FFMPEG`, `candidates`, PATH.
#[pyfunction]
#[pyo3(signature = (explicit=None, candidates=Vec::new()))]
fn find_ffmpeg(
    py: Python<'_>,
    explicit: Option<PathBuf>,
    candidates: Vec<PathBuf>,
) -> PyResult<PathBuf> {
    Ok(run(py, || {
        core::video::find_ffmpeg(explicit.as_deref(), &candidates)
    })?
    .path)
}

/// Animates a portrait with speech, writing a video. See `voxportrait.animate`.
#[pyfunction]
#[pyo3(signature = (
    image, audio, output, *, fps="25", size=512, framing="resize", face_index=0, seed=0, format=None,
    engine="learned", mouth_scale=1.0, head_scale=1.0, head_preset="calm",
    blink_rate=17.0, brow_scale=1.0, mouth_position=None, resting_mouth="keep-smile",
    max_audio_seconds=core::audio::STREAMING_MAX_SECONDS, allow_silent=false,
    background=(255, 255, 255), ffmpeg=None, ffmpeg_candidates=Vec::new(), progress=None,
    reference_video=None, reference_pose=true, reference_blinks=true
))]
#[allow(clippy::too_many_arguments)]
fn animate<'py>(
    py: Python<'py>,
    image: PathBuf,
    audio: PathBuf,
    output: PathBuf,
    fps: &str,
    size: u32,
    framing: &str,
    face_index: usize,
    seed: u64,
    format: Option<&str>,
    engine: &str,
    mouth_scale: f32,
    head_scale: f32,
    head_preset: &str,
    blink_rate: f32,
    brow_scale: f32,
    mouth_position: Option<(f32, f32)>,
    resting_mouth: &str,
    max_audio_seconds: f64,
    allow_silent: bool,
    background: (u8, u8, u8),
    ffmpeg: Option<PathBuf>,
    ffmpeg_candidates: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
    reference_video: Option<PathBuf>,
    reference_pose: bool,
    reference_blinks: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = core::pipeline::AnimateOptions {
        fps: guarded(|| Fps::parse(fps))?,
        framing: guarded(|| core::render::Framing::parse(framing, size))?,
        face_index,
        seed,
        format: format
            .map(|f| guarded(|| OutputFormat::parse(f)))
            .transpose()?,
        engine: guarded(|| VisemeEngine::parse(engine))?,
        mouth_scale,
        resting_mouth: guarded(|| core::motion::expression::RestingMouth::parse(resting_mouth))?,
        head_scale,
        head_preset: guarded(|| parse_preset(head_preset))?,
        blink_rate,
        brow_scale,
        mouth_fraction: mouth_position,
        max_audio_seconds,
        allow_silent,
        background: [background.0, background.1, background.2],
        ffmpeg,
        ffmpeg_candidates,
        reference: reference_video.map(|path| core::pipeline::ReferenceVideo {
            path,
            pose: reference_pose,
            blinks: reference_blinks,
        }),
    };
    let report = with_progress(py, progress, move |cb| {
        core::pipeline::animate(&image, &audio, &output, &opts, cb)
    })?;
    let d = PyDict::new(py);
    d.set_item("output", report.output)?;
    d.set_item(
        "format",
        match report.format {
            OutputFormat::Mp4 => "mp4",
            OutputFormat::Gif => "gif",
            OutputFormat::PngSequence => "png",
        },
    )?;
    d.set_item("frames", report.frames)?;
    d.set_item("width", report.width)?;
    d.set_item("height", report.height)?;
    d.set_item("fps", report.fps.to_string())?;
    d.set_item("fps_value", report.fps.as_f64())?;
    d.set_item("audio_seconds", report.audio_seconds)?;
    d.set_item("ffmpeg", report.ffmpeg)?;
    d.set_item("engine", report.engine.name())?;
    d.set_item("renderer", report.renderer)?;
    Ok(d)
}

/// Dubs a video with new speech, writing an MP4. See `voxportrait.dub`.
#[pyfunction]
#[pyo3(signature = (
    video, audio, output, *, lip_strength=1.0, length="loop", mix_original=0.0, face_index=0,
    smoothing=1.5, max_audio_seconds=core::audio::DEFAULT_MAX_SECONDS, ffmpeg=None,
    ffmpeg_candidates=Vec::new(), progress=None, region="lower-face", template="neutral"
))]
#[allow(clippy::too_many_arguments)]
fn dub<'py>(
    py: Python<'py>,
    video: PathBuf,
    audio: PathBuf,
    output: PathBuf,
    lip_strength: f32,
    length: &str,
    mix_original: f32,
    face_index: usize,
    smoothing: f32,
    max_audio_seconds: f64,
    ffmpeg: Option<PathBuf>,
    ffmpeg_candidates: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
    region: &str,
    template: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = core::dub::DubOptions {
        lip_strength,
        length: guarded(|| core::dub::LengthMode::parse(length))?,
        mix_original,
        face_index,
        smooth_min_cutoff: smoothing,
        region: guarded(|| core::dub::DubRegion::parse(region))?,
        template: guarded(|| core::dub::MouthTemplate::parse(template))?,
        ffmpeg,
        ffmpeg_candidates,
        max_audio_seconds,
    };
    let report = with_progress(py, progress, move |cb| {
        core::dub::dub(&video, &audio, &output, &opts, cb)
    })?;
    let d = PyDict::new(py);
    d.set_item("frames", report.frames)?;
    d.set_item("dubbed_frames", report.dubbed_frames)?;
    d.set_item("width", report.width)?;
    d.set_item("height", report.height)?;
    d.set_item("fps", report.fps.to_string())?;
    d.set_item("fps_value", report.fps.as_f64())?;
    d.set_item("detector_runs", report.detector_runs)?;
    Ok(d)
}

/// Drives a portrait with a video's face motion. See `voxportrait.reenact`.
/// `face_index` picks the portrait's face, `driving_face_index` the face of
/// the video it follows (0 = the largest of each).
#[pyfunction]
#[pyo3(signature = (
    image, video, output, *, framing="resize", size=512, face_index=0, driving_face_index=0,
    relative=true, pose=true, eyes=true, brows=true, mouth=true, smoothing=1.5, ffmpeg=None,
    ffmpeg_candidates=Vec::new(), progress=None
))]
#[allow(clippy::too_many_arguments)]
fn reenact<'py>(
    py: Python<'py>,
    image: PathBuf,
    video: PathBuf,
    output: PathBuf,
    framing: &str,
    size: u32,
    face_index: usize,
    driving_face_index: usize,
    relative: bool,
    pose: bool,
    eyes: bool,
    brows: bool,
    mouth: bool,
    smoothing: f32,
    ffmpeg: Option<PathBuf>,
    ffmpeg_candidates: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    use core::reenact::{Parts, ReenactOptions};
    let framing = guarded(|| core::render::Framing::parse(framing, size))?;
    let opts = ReenactOptions {
        relative,
        parts: Parts {
            pose,
            eyes,
            brows,
            mouth,
        },
        smooth_min_cutoff: smoothing,
        face_index: driving_face_index,
        portrait_pose: None,
        portrait_gaze: None,
        gaze: true,
    };
    let report = with_progress(py, progress, move |cb| {
        core::reenact::reenact(
            &image,
            &video,
            &output,
            framing,
            face_index,
            &opts,
            ffmpeg.as_deref(),
            &ffmpeg_candidates,
            cb,
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("frames", report.frames)?;
    d.set_item("width", report.width)?;
    d.set_item("height", report.height)?;
    d.set_item("fps", report.fps.to_string())?;
    d.set_item("with_audio", report.with_audio)?;
    Ok(d)
}

/// Fits motion (expression and head pose per frame) to the face in a video.
#[pyfunction]
#[pyo3(signature = (video, *, relative=true, smoothing=1.5, face_index=0, ffmpeg=None, ffmpeg_candidates=Vec::new(), progress=None))]
#[allow(clippy::too_many_arguments)]
fn motion_from_video<'py>(
    py: Python<'py>,
    video: PathBuf,
    relative: bool,
    smoothing: f32,
    face_index: usize,
    ffmpeg: Option<PathBuf>,
    ffmpeg_candidates: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = core::reenact::ReenactOptions {
        relative,
        smooth_min_cutoff: smoothing,
        face_index,
        ..Default::default()
    };
    let track = with_progress(py, progress, move |cb| {
        let ff = core::video::find_ffmpeg(ffmpeg.as_deref(), &ffmpeg_candidates)?;
        core::reenact::motion_from_video(&video, &opts, &ff, cb).map(|(t, _)| t)
    })?;
    motion_dict(py, &track, None, "")
}

/// Streams frames made in Python (refined frames) into an MP4, GIF or PNG
/// folder through the core's own sinks, so every output has the same
/// encoding. Written under a temporary name; `close` moves it into place,
/// `abort` (or dropping the writer) removes it.
#[pyclass(name = "FrameWriter", module = "voxportrait._native")]
struct PyFrameWriter {
    sink: Mutex<Option<Box<dyn core::video::FrameSink + Send>>>,
    width: u32,
    height: u32,
}

#[pymethods]
impl PyFrameWriter {
    #[new]
    #[pyo3(signature = (output, width, height, fps, format, audio=None, sample_rate=0, ffmpeg=None,
                        ffmpeg_candidates=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        output: PathBuf,
        width: u32,
        height: u32,
        fps: (u32, u32),
        format: &str,
        audio: Option<PyReadonlyArray1<'_, f32>>,
        sample_rate: u32,
        ffmpeg: Option<PathBuf>,
        ffmpeg_candidates: Vec<PathBuf>,
    ) -> PyResult<Self> {
        let fps = guarded(|| Fps::new(fps.0, fps.1))?;
        let format = guarded(|| OutputFormat::parse(format))?;
        if width == 0 || height == 0 {
            return Err(InputError::new_err("the frame size must be at least 1x1"));
        }
        let clip = clip_arg(audio, sample_rate)?;
        let sink = run(py, move || {
            let ff = checked_output(&output, format, ffmpeg.as_deref(), &ffmpeg_candidates)?;
            core::pipeline::open_sink(
                &output,
                format,
                width,
                height,
                fps,
                clip.as_ref().map(core::audio::Soundtrack::Clip),
                ff.as_ref(),
            )
        })?;
        Ok(Self {
            sink: Mutex::new(Some(sink)),
            width,
            height,
        })
    }

    /// Appends `(n, H, W, 3)` or `(H, W, 3)` uint8 frames.
    fn write(&self, py: Python<'_>, frames: &Bound<'_, PyAny>) -> PyResult<()> {
        let arr: numpy::PyReadonlyArrayDyn<'_, u8> = frames
            .extract()
            .map_err(|_| InputError::new_err("frames must be a uint8 numpy array (n, H, W, 3)"))?;
        let shape = arr.as_array().shape().to_vec();
        let (h, w) = (self.height as usize, self.width as usize);
        let ok = matches!(shape.as_slice(), [a, b, 3] if *a == h && *b == w)
            || matches!(shape.as_slice(), [_, a, b, 3] if *a == h && *b == w);
        if !ok {
            return Err(InputError::new_err(format!(
                "frames must be ({h}, {w}, 3) or (n, {h}, {w}, 3) uint8, got shape {shape:?}"
            )));
        }
        let data: Vec<u8> = match arr.as_slice() {
            Ok(s) => s.to_vec(),
            Err(_) => arr.as_array().iter().copied().collect(),
        };
        run(py, || {
            let mut guard = core::error::lock(&self.sink, "frame writer")?;
            let sink = guard
                .as_mut()
                .ok_or_else(|| core::Error::Output("the writer is already closed".into()))?;
            for frame in data.chunks_exact(w * h * 3) {
                sink.write_frame(frame)?;
            }
            Ok(())
        })
    }

    /// Finishes the file and moves it to its name.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || {
            let sink = core::error::lock(&self.sink, "frame writer")?
                .take()
                .ok_or_else(|| core::Error::Output("the writer is already closed".into()))?;
            sink.finish()
        })
    }

    /// Stops the encoder and removes the partial file.
    fn abort(&self) {
        if let Ok(mut g) = self.sink.lock() {
            drop(g.take());
        }
    }
}

/// Frame-by-frame dubbing for hosts that hold frames (ComfyUI IMAGE
/// batches): track, neutralise the frame's mouth, re-render it.
#[pyclass(name = "Dubber", module = "voxportrait._native")]
struct PyDubber {
    inner: Mutex<core::dub::Dubber>,
}

#[pymethods]
impl PyDubber {
    #[new]
    #[pyo3(signature = (fps, face_index=0, smoothing=1.5, region="lower-face", template="neutral"))]
    fn new(
        py: Python<'_>,
        fps: (u32, u32),
        face_index: usize,
        smoothing: f32,
        region: &str,
        template: &str,
    ) -> PyResult<Self> {
        let fps = guarded(|| Fps::new(fps.0, fps.1))?;
        let opts = core::dub::DubOptions {
            face_index,
            smooth_min_cutoff: smoothing,
            region: guarded(|| core::dub::DubRegion::parse(region))?,
            template: guarded(|| core::dub::MouthTemplate::parse(template))?,
            ..Default::default()
        };
        let inner = run(py, || core::dub::Dubber::new(fps, &opts))?;
        Ok(Self {
            inner: Mutex::new(inner),
        })
    }

    /// Dubs one `(H, W, 3)` uint8 frame to the 9 expression coefficients
    /// `expression`; returns the new frame.
    fn process<'py>(
        &self,
        py: Python<'py>,
        frame: &Bound<'_, PyAny>,
        expression: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<Bound<'py, PyArray3<u8>>> {
        let img = image_arg(py, frame)?;
        let e = expression.as_array();
        if e.len() != 9 {
            return Err(InputError::new_err("expression must have 9 coefficients"));
        }
        let m = core::motion::MotionFrame {
            expression: core::motion::Expression::from_array(std::array::from_fn(|k| e[k])),
            ..Default::default()
        };
        let out = run(py, || {
            let mut d = core::error::lock(&self.inner, "dubber")?;
            d.process(img, &m)
        })?;
        let (w, h) = out.dimensions();
        let arr = Array3::from_shape_vec((h as usize, w as usize, 3), out.into_raw())
            .map_err(|e| InternalError::new_err(e.to_string()))?;
        Ok(arr.into_pyarray(py))
    }
}

/// Frame-by-frame motion fitting (reenactment) for hosts that hold frames.
#[pyclass(name = "MotionFitter", module = "voxportrait._native")]
struct PyMotionFitter {
    inner: Mutex<core::reenact::MotionFitter>,
}

#[pymethods]
impl PyMotionFitter {
    #[new]
    #[pyo3(signature = (fps, relative=true, smoothing=1.5, face_index=0))]
    fn new(
        py: Python<'_>,
        fps: (u32, u32),
        relative: bool,
        smoothing: f32,
        face_index: usize,
    ) -> PyResult<Self> {
        let fps = guarded(|| Fps::new(fps.0, fps.1))?;
        let opts = core::reenact::ReenactOptions {
            relative,
            smooth_min_cutoff: smoothing,
            face_index,
            ..Default::default()
        };
        let inner = run(py, || core::reenact::MotionFitter::new(fps, &opts))?;
        Ok(Self {
            inner: Mutex::new(inner),
        })
    }

    /// Motion of the next `(H, W, 3)` uint8 frame: (expression [9], head [6]).
    fn push(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<f32>, Vec<f32>, bool)> {
        let img = image_arg(py, frame)?;
        let (m, found) = run(py, || {
            let mut f = core::error::lock(&self.inner, "motion fitter")?;
            let m = f.push(&img)?;
            Ok((m, f.found_face()))
        })?;
        Ok((
            m.expression.to_array().to_vec(),
            m.head.to_array().to_vec(),
            found,
        ))
    }

    /// Raises `InputError` when no frame so far showed the chosen face: no
    /// face at all, or fewer faces than `face_index` asks for.
    fn check_found_face(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || {
            core::error::lock(&self.inner, "motion fitter")?.check_found_face()
        })
    }
}

/// Parses a head-motion preset name; the error lists the valid ones.
fn parse_preset(name: &str) -> core::Result<HeadPreset> {
    let key = name.trim().to_ascii_lowercase();
    HeadPreset::ALL
        .into_iter()
        .find(|p| p.name() == key)
        .ok_or_else(|| {
            let names: Vec<&str> = HeadPreset::ALL.iter().map(|p| p.name()).collect();
            core::Error::Input(format!(
                "unknown head preset {name:?}; choose one of: {}",
                names.join(", ")
            ))
        })
}

/// A motion result as a dict of numpy arrays (see `voxportrait.motion`).
fn motion_dict<'py>(
    py: Python<'py>,
    track: &MotionTrack,
    visemes: Option<&core::motion::engine::Motion>,
    sound_file: &str,
) -> PyResult<Bound<'py, PyDict>> {
    use numpy::ndarray::Array2;
    let n = track.frames.len();
    let expr: Vec<f32> = track
        .frames
        .iter()
        .flat_map(|f| f.expression.to_array())
        .collect();
    let head: Vec<f32> = track
        .frames
        .iter()
        .flat_map(|f| f.head.to_array())
        .collect();
    let gaze: Vec<f32> = track
        .frames
        .iter()
        .flat_map(|f| f.gaze.unwrap_or([f32::NAN, f32::NAN]))
        .collect();
    let arr = |v: Vec<f32>, w: usize| {
        Array2::from_shape_vec((n, w), v).map_err(|e| InternalError::new_err(e.to_string()))
    };
    let d = PyDict::new(py);
    d.set_item("fps", (track.fps.num(), track.fps.den()))?;
    d.set_item("expression", arr(expr, 9)?.into_pyarray(py))?;
    d.set_item("head", arr(head, 6)?.into_pyarray(py))?;
    d.set_item("gaze", arr(gaze, 2)?.into_pyarray(py))?;
    if let Some(m) = visemes {
        use core::motion::visemes::{ovr_json, rhubarb_json, rhubarb_tsv, NUM_VISEMES};
        let flat: Vec<f32> = m.posteriors.iter().flatten().copied().collect();
        let post = Array2::from_shape_vec((m.posteriors.len(), NUM_VISEMES), flat)
            .map_err(|e| InternalError::new_err(e.to_string()))?;
        d.set_item("posteriors", post.into_pyarray(py))?;
        let segs: Vec<(f64, f64, &str, f32)> = m
            .segments
            .iter()
            .map(|s| (s.start, s.end, s.viseme.name(), s.confidence))
            .collect();
        d.set_item("segments", segs)?;
        d.set_item("engine", m.engine.name())?;
        d.set_item("rhubarb_tsv", rhubarb_tsv(&m.segments))?;
        d.set_item(
            "rhubarb_json",
            rhubarb_json(&m.segments, sound_file, track.duration_seconds()),
        )?;
        d.set_item("ovr_json", ovr_json(&m.posteriors, track.fps.as_f64(), n))?;
    }
    Ok(d)
}

/// Options of the motion stage from keyword arguments.
#[allow(clippy::too_many_arguments)]
fn motion_options(
    fps: &str,
    engine: &str,
    seed: u64,
    mouth_scale: f32,
    head_scale: f32,
    head_preset: &str,
    blink_rate: f32,
    brow_scale: f32,
) -> Result<core::motion::engine::MotionOptions, Fault> {
    let opts = core::pipeline::AnimateOptions {
        fps: guarded(|| Fps::parse(fps))?,
        seed,
        engine: guarded(|| VisemeEngine::parse(engine))?,
        mouth_scale,
        head_scale,
        head_preset: guarded(|| parse_preset(head_preset))?,
        blink_rate,
        brow_scale,
        ..Default::default()
    };
    Ok(opts.motion_options())
}

/// Audio (a file path, or float32 samples with `sample_rate`) → motion at
/// `fps`: expression coefficients, head pose, viseme posteriors and
/// segments, and the Rhubarb/OVR exports.
#[pyfunction]
#[pyo3(signature = (
    audio, *, sample_rate=None, fps="25", engine="learned", seed=0, mouth_scale=1.0,
    head_scale=1.0, head_preset="calm", blink_rate=17.0, brow_scale=1.0,
    max_audio_seconds=core::audio::DEFAULT_MAX_SECONDS
))]
#[allow(clippy::too_many_arguments)]
fn audio_to_motion<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    sample_rate: Option<u32>,
    fps: &str,
    engine: &str,
    seed: u64,
    mouth_scale: f32,
    head_scale: f32,
    head_preset: &str,
    blink_rate: f32,
    brow_scale: f32,
    max_audio_seconds: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = motion_options(
        fps,
        engine,
        seed,
        mouth_scale,
        head_scale,
        head_preset,
        blink_rate,
        brow_scale,
    )?;
    if let Ok(arr) = audio.extract::<PyReadonlyArray1<'py, f32>>() {
        let rate = sample_rate
            .ok_or_else(|| InputError::new_err("sample_rate is required with a samples array"))?;
        if rate == 0 {
            return Err(InputError::new_err("sample_rate must be positive"));
        }
        let clip = core::audio::AudioClip::new(arr.as_slice()?.to_vec(), rate);
        if let Some(problem) =
            core::motion::engine::unusable_speech(clip.samples.len(), clip.peak())
        {
            return Err(InputError::new_err(problem));
        }
        let m = run(py, || core::motion::engine::audio_to_motion(&clip, &opts))?;
        return motion_dict(py, &m.track, Some(&m), "");
    }
    let path: PathBuf = audio
        .extract()
        .map_err(|_| InputError::new_err("audio must be a file path or a float32 numpy array"))?;
    // A file streams: one minute of audio is held at a time, whatever its length.
    let load = core::audio::LoadOptions {
        max_seconds: max_audio_seconds,
    };
    let m = run(py, || {
        core::motion::engine::motion_from_file(&path, &load, &opts)
    })?;
    let name = path.to_string_lossy().into_owned();
    motion_dict(py, &m.track, Some(&m), &name)
}

/// Idle motion (closed mouth, breathing head motion, blinks) for `seconds`.
#[pyfunction]
#[pyo3(signature = (
    seconds, *, fps="25", seed=0, head_scale=1.0, head_preset="calm", blink_rate=17.0
))]
fn idle_motion<'py>(
    py: Python<'py>,
    seconds: f64,
    fps: &str,
    seed: u64,
    head_scale: f32,
    head_preset: &str,
    blink_rate: f32,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = motion_options(
        fps,
        "energy",
        seed,
        1.0,
        head_scale,
        head_preset,
        blink_rate,
        1.0,
    )?;
    let track = run(py, || core::motion::engine::idle_motion(seconds, &opts))?;
    motion_dict(py, &track, None, "")
}

/// Parses motion JSON (`voxportrait.motion/1`) into arrays.
#[pyfunction]
fn motion_from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let track = run(py, || MotionTrack::from_json(text))?;
    motion_dict(py, &track, None, "")
}

/// A motion track from arrays (expression `[N, 9]`, head `[N, 6]`, gaze
/// `[N, 2]` with NaN for "keep the source's").
fn track_from_arrays(
    fps: (u32, u32),
    expression: &PyReadonlyArray2<'_, f32>,
    head: &PyReadonlyArray2<'_, f32>,
    gaze: &PyReadonlyArray2<'_, f32>,
) -> PyResult<MotionTrack> {
    use core::motion::{Expression, HeadMotion, MotionFrame};
    let (e, h, g) = (expression.as_array(), head.as_array(), gaze.as_array());
    let n = e.shape()[0];
    if e.shape()[1] != 9 || h.shape() != [n, 6] || g.shape() != [n, 2] {
        return Err(InputError::new_err(format!(
            "motion arrays must be expression [N, 9], head [N, 6] and gaze [N, 2]; got {:?}, {:?}, {:?}",
            e.shape(),
            h.shape(),
            g.shape()
        )));
    }
    let fps = guarded(|| Fps::new(fps.0, fps.1))?;
    let frames = (0..n)
        .map(|i| MotionFrame {
            expression: Expression::from_array(std::array::from_fn(|k| e[[i, k]])),
            head: HeadMotion::from_array(std::array::from_fn(|k| h[[i, k]])),
            gaze: (g[[i, 0]].is_finite() && g[[i, 1]].is_finite()).then(|| [g[[i, 0]], g[[i, 1]]]),
        })
        .collect();
    Ok(MotionTrack { fps, frames })
}

/// Writes motion arrays (see `track_from_arrays`) as motion JSON.
#[pyfunction]
fn motion_to_json(
    fps: (u32, u32),
    expression: PyReadonlyArray2<'_, f32>,
    head: PyReadonlyArray2<'_, f32>,
    gaze: PyReadonlyArray2<'_, f32>,
) -> PyResult<String> {
    Ok(track_from_arrays(fps, &expression, &head, &gaze)?.to_json())
}

/// A prepared portrait that renders motion frames: the mesh renderer (or
/// the mouth-only fallback when `mouth_position` is given).
#[pyclass(name = "Renderer", module = "voxportrait._native", frozen)]
struct PyRenderer {
    inner: std::sync::Arc<core::pipeline::FrameRenderer>,
}

#[pymethods]
impl PyRenderer {
    /// Analyses the face in `image` (path or uint8 array) and frames it.
    #[new]
    #[pyo3(signature = (image, framing="resize", size=512, face_index=0, mouth_position=None, resting_mouth="keep-smile"))]
    fn new(
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        framing: &str,
        size: u32,
        face_index: usize,
        mouth_position: Option<(f32, f32)>,
        resting_mouth: &str,
    ) -> PyResult<Self> {
        let img = image_arg(py, image)?;
        let framing = guarded(|| core::render::Framing::parse(framing, size))?;
        let resting = guarded(|| core::motion::expression::RestingMouth::parse(resting_mouth))?;
        let inner = run(py, || {
            core::pipeline::prepare_renderer(&img, framing, face_index, mouth_position, resting)
        })?;
        Ok(Self {
            inner: std::sync::Arc::new(inner),
        })
    }

    /// Output width in pixels.
    #[getter]
    fn width(&self) -> u32 {
        self.inner.dimensions().0
    }

    /// Output height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.inner.dimensions().1
    }

    /// "mesh", or "mouth-warp" for the fallback.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.name()
    }

    /// Renders frames `start..stop` of the motion arrays. Returns frames
    /// `[n, H, W, 3]` uint8, and with `masks=True` also face and mouth masks
    /// `[n, H, W]` uint8 (the fallback renderer has none: all zero).
    #[pyo3(signature = (expression, head, gaze, start=0, stop=None, masks=false))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn render<'py>(
        &self,
        py: Python<'py>,
        expression: PyReadonlyArray2<'_, f32>,
        head: PyReadonlyArray2<'_, f32>,
        gaze: PyReadonlyArray2<'_, f32>,
        start: usize,
        stop: Option<usize>,
        masks: bool,
    ) -> PyResult<(
        Bound<'py, numpy::PyArray4<u8>>,
        Option<(Bound<'py, PyArray3<u8>>, Bound<'py, PyArray3<u8>>)>,
    )> {
        use numpy::ndarray::Array4;
        let track = track_from_arrays((25, 1), &expression, &head, &gaze)?;
        let stop = stop.unwrap_or(track.frames.len()).min(track.frames.len());
        let start = start.min(stop);
        let (w, h) = self.inner.dimensions();
        let (w, h) = (w as usize, h as usize);
        let n = stop - start;
        let renderer = self.inner.clone();
        let (frames, face, mouth) = run(py, move || {
            let mut frames = vec![0u8; n * w * h * 3];
            let (mut face, mut mouth) = (Vec::new(), Vec::new());
            let mut m = core::render::FrameMasks {
                face: Vec::new(),
                mouth: Vec::new(),
            };
            for (k, out) in frames.chunks_mut(w * h * 3).enumerate() {
                let motion = &track.frames[start + k];
                match renderer.as_ref() {
                    core::pipeline::FrameRenderer::Mesh(r) if masks => {
                        r.render_into(motion, out, Some(&mut m));
                        face.extend_from_slice(&m.face);
                        mouth.extend_from_slice(&m.mouth);
                    }
                    r => {
                        r.render_into(motion, out);
                        if masks {
                            face.resize(face.len() + w * h, 0);
                            mouth.resize(mouth.len() + w * h, 0);
                        }
                    }
                }
            }
            Ok((frames, face, mouth))
        })?;
        let shape_err = |e: numpy::ndarray::ShapeError| InternalError::new_err(e.to_string());
        let frames = Array4::from_shape_vec((n, h, w, 3), frames).map_err(shape_err)?;
        let masks = if masks {
            Some((
                Array3::from_shape_vec((n, h, w), face)
                    .map_err(shape_err)?
                    .into_pyarray(py),
                Array3::from_shape_vec((n, h, w), mouth)
                    .map_err(shape_err)?
                    .into_pyarray(py),
            ))
        } else {
            None
        };
        Ok((frames.into_pyarray(py), masks))
    }

    /// Renders the whole motion straight into `output` (MP4 with `ffmpeg`,
    /// GIF, or PNG frames by `format`), with mono `audio` samples at
    /// `sample_rate` as the soundtrack when given. Frames stream to the
    /// encoder; nothing is held. `progress(done, total)` may raise to stop.
    #[pyo3(signature = (output, fps, expression, head, gaze, format, audio=None, sample_rate=0, ffmpeg=None, ffmpeg_candidates=Vec::new(), progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn render_to_file(
        &self,
        py: Python<'_>,
        output: PathBuf,
        fps: (u32, u32),
        expression: PyReadonlyArray2<'_, f32>,
        head: PyReadonlyArray2<'_, f32>,
        gaze: PyReadonlyArray2<'_, f32>,
        format: &str,
        audio: Option<PyReadonlyArray1<'_, f32>>,
        sample_rate: u32,
        ffmpeg: Option<PathBuf>,
        ffmpeg_candidates: Vec<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<u64> {
        let track = track_from_arrays(fps, &expression, &head, &gaze)?;
        let format = guarded(|| OutputFormat::parse(format))?;
        let clip = clip_arg(audio, sample_rate)?;
        let renderer = self.inner.clone();
        with_progress(py, progress, move |cb| {
            let ff = checked_output(&output, format, ffmpeg.as_deref(), &ffmpeg_candidates)?;
            core::pipeline::render_to_file(
                &renderer,
                &track,
                clip.as_ref().map(core::audio::Soundtrack::Clip),
                &output,
                format,
                ff.as_ref(),
                cb,
            )
        })
    }
}

/// Mono float samples plus their rate from Python as an audio clip (None
/// without samples); samples without a rate are an input error.
fn clip_arg(
    audio: Option<PyReadonlyArray1<'_, f32>>,
    sample_rate: u32,
) -> PyResult<Option<core::audio::AudioClip>> {
    match audio {
        Some(a) if sample_rate > 0 => Ok(Some(core::audio::AudioClip::new(
            a.as_array().to_vec(),
            sample_rate,
        ))),
        Some(_) => Err(InputError::new_err("audio needs its sample_rate")),
        None => Ok(None),
    }
}

/// Checks that `output` can be written and finds the ffmpeg its `format`
/// needs (MP4 only), before any frame is made.
fn checked_output(
    output: &std::path::Path,
    format: OutputFormat,
    ffmpeg: Option<&std::path::Path>,
    candidates: &[PathBuf],
) -> core::Result<Option<core::video::Ffmpeg>> {
    core::video::check_output_writable(output)?;
    match format {
        OutputFormat::Mp4 => core::video::find_ffmpeg(ffmpeg, candidates).map(Some),
        _ => Ok(None),
    }
}

/// Runs `job` with the GIL released, giving it a progress callback that
/// checks for Ctrl-C and calls the Python `progress(done, total)`; a Python
/// error raised there stops the job and is re-raised as-is.
fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    job: impl FnOnce(&mut dyn FnMut(u64, u64) -> bool) -> core::Result<T> + Send,
) -> PyResult<T> {
    let mut callback_error: Option<PyErr> = None;
    let result = py.detach(|| {
        guarded(|| {
            job(&mut |done, total| {
                Python::attach(|py| {
                    let outcome = py.check_signals().and_then(|_| match &progress {
                        Some(cb) => cb.call1(py, (done, total)).map(drop),
                        None => Ok(()),
                    });
                    match outcome {
                        Ok(()) => true,
                        Err(e) => {
                            callback_error = Some(e);
                            false
                        }
                    }
                })
            })
        })
    });
    match (result, callback_error) {
        (Err(Fault::Core(core::Error::Cancelled)), Some(e)) => Err(e),
        (r, _) => r.map_err(PyErr::from),
    }
}

/// Converts a Python image argument (a path, or a uint8 numpy array of shape
/// `(H, W)`, `(H, W, 3)` or `(H, W, 4)`) to RGB; alpha is composited on white.
fn image_arg(py: Python<'_>, image: &Bound<'_, PyAny>) -> PyResult<image::RgbImage> {
    if let Ok(arr) = image.extract::<numpy::PyReadonlyArrayDyn<'_, u8>>() {
        let a = arr.as_array();
        let shape = a.shape().to_vec();
        let (h, w, c) = match shape.as_slice() {
            [h, w] => (*h, *w, 1),
            [h, w, c] if [1, 3, 4].contains(c) => (*h, *w, *c),
            _ => {
                return Err(InputError::new_err(format!(
                    "image array must have shape (H, W), (H, W, 3) or (H, W, 4), got {shape:?}"
                )))
            }
        };
        if h == 0 || w == 0 {
            return Err(InputError::new_err("image array is empty"));
        }
        // One bulk copy for the common contiguous case; element-wise only for
        // strided views.
        let data: Vec<u8> = match a.as_slice() {
            Some(slice) => slice.to_vec(),
            None => a.iter().copied().collect(),
        };
        let size_err = || InternalError::new_err("image buffer size mismatch");
        let img = match c {
            3 => image::RgbImage::from_raw(w as u32, h as u32, data).ok_or_else(size_err)?,
            1 => image::RgbImage::from_raw(
                w as u32,
                h as u32,
                data.iter().flat_map(|&v| [v, v, v]).collect(),
            )
            .ok_or_else(size_err)?,
            _ => {
                let rgba =
                    image::RgbaImage::from_raw(w as u32, h as u32, data).ok_or_else(size_err)?;
                core::portrait::composite_over(&rgba, [255, 255, 255])
            }
        };
        return Ok(img);
    }
    if image.is_instance_of::<numpy::PyUntypedArray>() {
        return Err(InputError::new_err("image arrays must be uint8 (0..255)"));
    }
    let path: PathBuf = image
        .extract()
        .map_err(|_| InputError::new_err("image must be a file path or a uint8 numpy array"))?;
    run(py, || core::portrait::load_rgb(&path, [255, 255, 255]))
}

/// `(N, 3)` float32 array of points.
fn points_array<'py>(py: Python<'py>, points: &[[f32; 3]]) -> PyResult<Bound<'py, PyAny>> {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    let a = numpy::ndarray::Array2::from_shape_vec((points.len(), 3), flat)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py).into_any())
}

/// One analysed face as a dict of numpy arrays and floats.
fn face_dict<'py>(py: Python<'py>, f: &core::face::analyze::Face) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("landmarks", points_array(py, &f.landmarks)?)?;
    let det = &f.detection;
    d.set_item("box", (det.xmin, det.ymin, det.xmax, det.ymax))?;
    d.set_item("score", det.score)?;
    d.set_item(
        "keypoints",
        det.keypoints
            .iter()
            .map(|k| (k[0], k[1]))
            .collect::<Vec<_>>(),
    )?;
    d.set_item("presence", f.presence)?;
    let r = &f.roi;
    d.set_item("roi", (r.cx, r.cy, r.w, r.h, r.rotation))?;
    let p = &f.pose.pose;
    let pose = PyDict::new(py);
    pose.set_item("yaw", p.yaw)?;
    pose.set_item("pitch", p.pitch)?;
    pose.set_item("roll", p.roll)?;
    pose.set_item("rotation", p.rotation.to_vec())?;
    pose.set_item("translation", p.translation.to_vec())?;
    pose.set_item("scale", p.scale)?;
    pose.set_item("rms_px", f.pose.rms_px)?;
    d.set_item("pose", pose)?;
    d.set_item("interocular", f.interocular())?;
    if let Some(eyes) = &f.eyes {
        let mut list = Vec::with_capacity(2);
        for eye in eyes {
            let e = PyDict::new(py);
            e.set_item("iris", points_array(py, &eye.iris)?)?;
            e.set_item("contour", points_array(py, &eye.contour)?)?;
            e.set_item("radius", eye.iris_radius())?;
            list.push(e);
        }
        d.set_item("eyes", list)?;
    }
    if let Some(g) = f.gaze() {
        d.set_item("gaze", (g[0], g[1]))?;
    }
    Ok(d)
}

/// Analyses faces in an image (path or uint8 array): detector, 468-point
/// mesh, head pose and (with `iris`) both irises. `face_index=None` returns
/// every face (largest first).
/// With `overlay`, also writes a PNG of the image with mesh, boxes and pose
/// axes drawn on it.
#[pyfunction]
#[pyo3(signature = (image, face_index=Some(0), min_score=None, overlay=None, iris=true))]
fn analyze_face<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    face_index: Option<usize>,
    min_score: Option<f32>,
    overlay: Option<PathBuf>,
    iris: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let opts = core::face::analyze::AnalyzeOptions {
        face_index,
        min_score,
        iris,
    };
    // A C-contiguous (H, W, 3) uint8 array is read in place (no copy of a
    // large photo); anything else goes through `image_arg`.
    let borrowed = image.extract::<numpy::PyReadonlyArray3<'py, u8>>().ok();
    let view = borrowed.as_ref().and_then(|a| {
        let shape = a.as_array().shape().to_vec();
        let (h, w, c) = (shape[0], shape[1], shape[2]);
        // numpy's `as_slice` also accepts Fortran order: C order only here.
        let data = a.as_array().to_slice()?;
        (c == 3 && h > 0 && w > 0 && h <= u32::MAX as usize && w <= u32::MAX as usize)
            .then(|| core::face::roi::RgbView::from_raw(w as u32, h as u32, data))
            .flatten()
    });
    let faces = match view {
        Some(view) => run(py, || analyze_pixels(&view, &opts, overlay.as_deref()))?,
        None => {
            let img = image_arg(py, image)?;
            run(py, || analyze_pixels(&img, &opts, overlay.as_deref()))?
        }
    };
    faces.iter().map(|f| face_dict(py, f)).collect()
}

/// [`analyze_face`]'s work on an image in any buffer, with the overlay.
fn analyze_pixels(
    img: &impl core::face::analyze::RgbPixels,
    opts: &core::face::analyze::AnalyzeOptions,
    overlay: Option<&std::path::Path>,
) -> core::Result<Vec<core::face::analyze::Face>> {
    let analyzer = core::face::analyze::FaceAnalyzer::shared()?;
    let faces = analyzer.analyze(img, opts)?;
    if let Some(path) = overlay {
        let v = img.rgb_view();
        let mut canvas = image::RgbImage::from_raw(v.width(), v.height(), v.as_raw().to_vec())
            .expect("a view's buffer fits its size");
        core::face::overlay::draw_faces(&mut canvas, &faces, analyzer.canonical());
        core::portrait::save_png(&canvas, path)?;
    }
    Ok(faces)
}

/// Whisper tiny.en encoder features of mono float32 speech, exactly as the
/// motion stage computes them: `(T, 384)` float32, one row per 20 ms, row `i`
/// centred on `0.02 * i` s, `T = ceil(n / 320)` at 16 kHz (audio at another
/// rate is resampled to 16 kHz first). 10 s windows with 2 s of context and a
/// 2 s crossfade (`core::motion::whisper`).
#[pyfunction]
fn whisper_features<'py>(
    py: Python<'py>,
    samples: PyReadonlyArray1<'py, f32>,
    sample_rate: u32,
) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
    use core::motion::whisper::{WhisperEncoder, FEATURE_DIM, SAMPLE_RATE};
    let clip = core::audio::AudioClip::new(samples.as_array().to_vec(), sample_rate);
    let features = run(py, || {
        if clip.samples.iter().any(|s| !s.is_finite()) {
            return Err(core::Error::Input(
                "audio samples must be finite (no NaN or infinity)".into(),
            ));
        }
        let clip = core::audio::resample(&clip, SAMPLE_RATE)?;
        WhisperEncoder::shared()?.features(&clip.samples)
    })?;
    let array =
        numpy::ndarray::Array2::from_shape_vec((features.frames, FEATURE_DIM), features.data)
            .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// Model-free viseme posteriors (energy, spectral tilt and band ratios) of
/// mono float32 speech at `sample_rate`: `(T, 15)` float32, one row per 20 ms
/// (`T = ceil(duration / 20 ms)`), rows summing to 1, visemes in the order
/// sil PP FF TH DD kk CH SS nn RR aa E ih oh ou (`core::motion::energy`).
#[pyfunction]
fn viseme_posteriors_energy<'py>(
    py: Python<'py>,
    samples: PyReadonlyArray1<'py, f32>,
    sample_rate: u32,
) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
    use core::motion::energy::viseme_posteriors;
    use core::motion::visemes::NUM_VISEMES;
    let clip = core::audio::AudioClip::new(samples.as_array().to_vec(), sample_rate);
    let rows = run(py, || {
        if sample_rate == 0 {
            return Err(core::Error::Input("sample_rate must be positive".into()));
        }
        if clip.samples.iter().any(|s| !s.is_finite()) {
            return Err(core::Error::Input(
                "audio samples must be finite (no NaN or infinity)".into(),
            ));
        }
        Ok(viseme_posteriors(&clip))
    })?;
    let n = rows.len();
    let flat: Vec<f32> = rows.into_iter().flatten().collect();
    let array = numpy::ndarray::Array2::from_shape_vec((n, NUM_VISEMES), flat)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// Poisons a lock with a deliberate panic, then takes it as the binding's
/// writers, dubbers and fitters do: tests that a poisoned lock becomes
/// `InternalError`.
#[pyfunction]
fn _poisoned_lock_for_test(py: Python<'_>) -> PyResult<()> {
    let mutex = Mutex::new(());
    let _ = guarded(|| -> core::Result<()> {
        let _held = mutex.lock().expect("fresh lock");
        panic!("deliberate test panic while holding a lock")
    });
    run(py, || core::error::lock(&mutex, "test object").map(|_| ()))
}

/// Panics on purpose, to test that panics become `InternalError`.
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    run(py, || -> core::Result<()> {
        panic!("deliberate test panic")
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_panic_hook();
    let py = m.py();
    m.add("__version__", core::VERSION)?;
    // Which sources this core was built from (build.rs; `voxportrait._build`).
    m.add("BUILD_ID", env!("VOXPORTRAIT_BUILD_ID"))?;
    m.add("PY_SOURCES_ID", env!("VOXPORTRAIT_PY_SOURCES_ID"))?;
    m.add("VoxPortraitError", py.get_type::<VoxPortraitError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    m.add("EncoderError", py.get_type::<EncoderError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add(
        "DEFAULT_MAX_AUDIO_SECONDS",
        core::audio::DEFAULT_MAX_SECONDS,
    )?;
    m.add(
        "STREAMING_MAX_AUDIO_SECONDS",
        core::audio::STREAMING_MAX_SECONDS,
    )?;
    m.add("DEFAULT_MOUTH_POSITION", core::face::DEFAULT_MOUTH_FRACTION)?;
    m.add("FFMPEG_ENV", core::video::FFMPEG_ENV)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(parse_fps, m)?)?;
    m.add_function(wrap_pyfunction!(frame_count, m)?)?;
    m.add_function(wrap_pyfunction!(load_audio, m)?)?;
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    m.add_function(wrap_pyfunction!(load_image, m)?)?;
    m.add_function(wrap_pyfunction!(find_ffmpeg, m)?)?;
    m.add_function(wrap_pyfunction!(animate, m)?)?;
    m.add_class::<PyRenderer>()?;
    m.add_function(wrap_pyfunction!(dub, m)?)?;
    m.add_function(wrap_pyfunction!(reenact, m)?)?;
    m.add_class::<PyDubber>()?;
    m.add_class::<PyFrameWriter>()?;
    m.add_class::<PyMotionFitter>()?;
    m.add_function(wrap_pyfunction!(motion_from_video, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_face, m)?)?;
    m.add_function(wrap_pyfunction!(whisper_features, m)?)?;
    m.add_function(wrap_pyfunction!(audio_to_motion, m)?)?;
    m.add_function(wrap_pyfunction!(idle_motion, m)?)?;
    m.add_function(wrap_pyfunction!(motion_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(motion_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(viseme_posteriors_energy, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(_poisoned_lock_for_test, m)?)?;
    Ok(())
}
