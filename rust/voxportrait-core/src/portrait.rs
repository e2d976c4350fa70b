//! Portrait stage: decode the still image the video is made from.
//!
//! PNG, JPEG and WebP through the `image` crate, turned upright by their EXIF
//! orientation (phones store most photos sideways). Grayscale and 16-bit
//! images become 8-bit RGB; alpha is composited over a background or kept, as
//! the caller asks.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, RgbaImage};

use crate::error::{check_input_file, Error, Result};

/// Largest accepted width or height in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// What to do with an alpha channel when an RGB image is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlphaMode {
    /// Blend over this solid background colour.
    Composite([u8; 3]),
    /// Keep the alpha channel (only meaningful for [`load_rgba`]).
    Keep,
}

/// Decodes an image file, upright according to its EXIF orientation.
pub fn load(path: &Path) -> Result<DynamicImage> {
    check_input_file(path, "image")?;
    let not_image = || {
        Error::input(
            path,
            "not a recognised image file (supported: PNG, JPEG, WebP)",
        )
    };
    // Trust the file's magic bytes, never its extension.
    let mut head = [0u8; 32];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Error::input(path, format!("cannot read image: {e}")))?;
    let format = image::guess_format(&head[..n]).map_err(|_| not_image())?;
    let mut reader = ImageReader::open(path)
        .map_err(|e| Error::input(path, format!("cannot open image: {e}")))?;
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(2 << 30);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(path, e))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, e))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::input(path, "image has zero width or height"));
    }
    Ok(img)
}

/// Decodes an image as 8-bit RGB, compositing any alpha over `background`.
pub fn load_rgb(path: &Path, background: [u8; 3]) -> Result<RgbImage> {
    Ok(to_rgb(&load(path)?, AlphaMode::Composite(background)))
}

/// Decodes an image as 8-bit RGBA (opaque images get alpha 255).
pub fn load_rgba(path: &Path) -> Result<RgbaImage> {
    Ok(load(path)?.to_rgba8())
}

/// Converts any decoded image to 8-bit RGB. `AlphaMode::Keep` drops alpha
/// (there is nowhere to keep it in RGB); use [`load_rgba`] to keep it.
pub fn to_rgb(img: &DynamicImage, alpha: AlphaMode) -> RgbImage {
    match (img.color().has_alpha(), alpha) {
        (true, AlphaMode::Composite(bg)) => composite_over(&img.to_rgba8(), bg),
        _ => img.to_rgb8(),
    }
}

/// Blends an RGBA image over a solid colour.
pub fn composite_over(rgba: &RgbaImage, background: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let mix = |c: u8, b: u8| ((c as u32 * a + b as u32 * (255 - a) + 127) / 255) as u8;
        image::Rgb([
            mix(p[0], background[0]),
            mix(p[1], background[1]),
            mix(p[2], background[2]),
        ])
    })
}

/// Scales an image so its longer side is `max_side` (0 keeps the size) and
/// both sides are even, as H.264 with 4:2:0 chroma requires.
pub fn fit_even(img: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let scale = if max_side == 0 {
        1.0
    } else {
        max_side as f64 / w.max(h) as f64
    };
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    let (nw, nh) = (even(w as f64 * scale), even(h as f64 * scale));
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, nw, nh, image::imageops::FilterType::CatmullRom)
}

fn decode_error(path: &Path, e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => Error::input(
            path,
            format!(
                "image is too large to load (limit {MAX_SIDE} px per side); downscale it first"
            ),
        ),
        image::ImageError::Unsupported(u) => {
            Error::input(path, format!("unsupported image variant: {u}"))
        }
        other => Error::input(path, format!("corrupt or truncated image: {other}")),
    }
}

/// Writes an RGB image as PNG, atomically (temporary name, then rename), so
/// a failure never leaves a partial file.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    crate::video::check_output_writable(path)?;
    let tmp = crate::video::temp_beside(path, ".part.png")?;
    img.write_to(
        &mut std::io::BufWriter::new(tmp.as_file()),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::output(path, format!("cannot write PNG: {e}")))?;
    crate::video::persist(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{example, fixture};

    #[test]
    fn exif_orientation_is_honoured() {
        let upright = load(&fixture("portrait_rot90.jpg")).unwrap();
        assert_eq!((upright.width(), upright.height()), (256, 192));
        // The upright image should match the same crop of the plain portrait.
        let reference = load_rgb(&fixture("portrait_small.jpg"), [0, 0, 0]).unwrap();
        let up = upright.to_rgb8();
        // The fixture holds rows 24..216 of the 256 px portrait.
        let mut diff = 0u64;
        for (x, y, p) in up.enumerate_pixels() {
            for c in 0..3 {
                diff += (p[c] as i64 - reference.get_pixel(x, y + 24)[c] as i64).unsigned_abs();
            }
        }
        let mean = diff as f64 / (256.0 * 192.0 * 3.0);
        assert!(mean < 30.0, "mean abs difference {mean}");
    }

    #[test]
    fn alpha_is_composited_or_kept() {
        let rgba = load_rgba(&fixture("portrait_rgba.png")).unwrap();
        assert_eq!(rgba.get_pixel(0, 0)[3], 0);
        let rgb = load_rgb(&fixture("portrait_rgba.png"), [0, 255, 0]).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 255, 0]);
        let c = rgb.get_pixel(128, 128).0;
        assert_eq!(c, {
            let p = rgba.get_pixel(128, 128).0;
            [p[0], p[1], p[2]]
        });
    }

    #[test]
    fn webp_gray16_and_png_decode_to_rgb() {
        for name in ["portrait.webp", "portrait_gray16.png"] {
            let img = load_rgb(&fixture(name), [0, 0, 0]).unwrap();
            assert_eq!(img.dimensions(), (256, 256), "{name}");
        }
        let img = load_rgb(&example("portrait.png"), [0, 0, 0]).unwrap();
        assert_eq!(img.dimensions(), (512, 512));
    }

    #[test]
    fn non_images_get_clear_errors() {
        let msg = |name: &str| load(&fixture(name)).unwrap_err().to_string();
        assert!(
            msg("not_image.png").contains("not a recognised image"),
            "{}",
            msg("not_image.png")
        );
        assert!(msg("empty.wav").contains("empty"));
        assert!(msg("missing.png").contains("not found"));
        assert!(msg("speech_1s.wav").contains("not a recognised image"));
    }

    #[test]
    fn fit_even_makes_even_sides() {
        let img = RgbImage::new(301, 201);
        let out = fit_even(&img, 0);
        assert_eq!(out.dimensions(), (302, 202));
        let out = fit_even(&img, 512);
        assert_eq!(out.dimensions(), (512, 342));
    }
}
