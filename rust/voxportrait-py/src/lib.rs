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
use numpy::{IntoPyArray, PyArray1, PyArray3, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use voxportrait_core as core;
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
    image, audio, output, *, fps="25", size=512, seed=0, format=None,
    mouth_scale=1.0, head_scale=1.0, mouth_position=None,
    max_audio_seconds=core::audio::DEFAULT_MAX_SECONDS, allow_silent=false,
    background=(255, 255, 255), ffmpeg=None, ffmpeg_candidates=Vec::new(), progress=None
))]
#[allow(clippy::too_many_arguments)]
fn animate<'py>(
    py: Python<'py>,
    image: PathBuf,
    audio: PathBuf,
    output: PathBuf,
    fps: &str,
    size: u32,
    seed: u64,
    format: Option<&str>,
    mouth_scale: f32,
    head_scale: f32,
    mouth_position: Option<(f32, f32)>,
    max_audio_seconds: f64,
    allow_silent: bool,
    background: (u8, u8, u8),
    ffmpeg: Option<PathBuf>,
    ffmpeg_candidates: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = core::pipeline::AnimateOptions {
        fps: guarded(|| Fps::parse(fps))?,
        size,
        seed,
        format: format
            .map(|f| guarded(|| OutputFormat::parse(f)))
            .transpose()?,
        mouth_scale,
        head_scale,
        mouth_fraction: mouth_position.unwrap_or(core::face::DEFAULT_MOUTH_FRACTION),
        max_audio_seconds,
        allow_silent,
        background: [background.0, background.1, background.2],
        ffmpeg,
        ffmpeg_candidates,
    };
    // A Python error raised in the progress callback (or Ctrl-C) stops the
    // job and is re-raised as-is once the GIL is back.
    let mut callback_error: Option<PyErr> = None;
    let result = py.detach(|| {
        guarded(|| {
            core::pipeline::animate(&image, &audio, &output, &opts, &mut |done, total| {
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
    let report = match (result, callback_error) {
        (Err(Fault::Core(core::Error::Cancelled)), Some(e)) => return Err(e),
        (r, _) => r?,
    };
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
    d.set_item("engine", report.engine)?;
    Ok(d)
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
    let img = image_arg(py, image)?;
    let opts = core::face::analyze::AnalyzeOptions {
        face_index,
        min_score,
        iris,
    };
    let faces = run(py, || {
        let analyzer = core::face::analyze::FaceAnalyzer::shared()?;
        let faces = analyzer.analyze(&img, &opts)?;
        if let Some(path) = &overlay {
            let mut canvas = img.clone();
            core::face::overlay::draw_faces(&mut canvas, &faces, analyzer.canonical());
            core::portrait::save_png(&canvas, path)?;
        }
        Ok(faces)
    })?;
    faces.iter().map(|f| face_dict(py, f)).collect()
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
    m.add_function(wrap_pyfunction!(analyze_face, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}
