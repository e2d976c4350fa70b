//! Drawing primitives for the face-analysis overlay (mesh, irises, boxes,
//! pose axes).
//!
//! Coordinates follow the landmarks' (MediaPipe's) convention: pixel
//! `(i, j)`'s centre is at `(i, j)`.
//!
//! Hand-written rather than pulling in `imageproc`: three anti-aliased
//! primitives are a few dozen lines, while that crate brings nalgebra and
//! doubles the core's build time on CI's two cores.

use image::RgbImage;

/// Blends `color` into pixel (x, y) with opacity `alpha` (0..1); off-image
/// coordinates are ignored.
fn plot(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3], alpha: f32) {
    if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 || alpha <= 0.0 {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    for c in 0..3 {
        p[c] = (p[c] as f32 * (1.0 - alpha) + color[c] as f32 * alpha).round() as u8;
    }
}

/// Anti-aliased line (Xiaolin Wu's algorithm) from `a` to `b`.
pub fn draw_line(img: &mut RgbImage, a: [f32; 2], b: [f32; 2], color: [u8; 3], alpha: f32) {
    let (mut x0, mut y0, mut x1, mut y1) = (a[0], a[1], b[0], b[1]);
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return;
    }
    let steep = (y1 - y0).abs() > (x1 - x0).abs();
    if steep {
        std::mem::swap(&mut x0, &mut y0);
        std::mem::swap(&mut x1, &mut y1);
    }
    if x0 > x1 {
        std::mem::swap(&mut x0, &mut x1);
        std::mem::swap(&mut y0, &mut y1);
    }
    let dx = x1 - x0;
    let gradient = if dx.abs() < 1e-6 { 0.0 } else { (y1 - y0) / dx };
    let limit = 4 * (img.width() + img.height()) as i64; // never loop forever on huge coordinates
    let start = (x0.round() as i64).max(-limit);
    let end = (x1.round() as i64).min(limit);
    for x in start..=end {
        let y = y0 + gradient * (x as f32 - x0);
        let yi = y.floor();
        let f = y - yi;
        let (p, q) = if steep {
            ((yi as i64, x), (yi as i64 + 1, x))
        } else {
            ((x, yi as i64), (x, yi as i64 + 1))
        };
        plot(img, p.0, p.1, color, alpha * (1.0 - f));
        plot(img, q.0, q.1, color, alpha * f);
    }
}

/// A filled dot of radius `r` pixels.
pub fn draw_dot(img: &mut RgbImage, c: [f32; 2], r: f32, color: [u8; 3], alpha: f32) {
    if !(c[0].is_finite() && c[1].is_finite()) {
        return;
    }
    let (x0, x1) = (
        (c[0] - r - 1.0).floor() as i64,
        (c[0] + r + 1.0).ceil() as i64,
    );
    let (y0, y1) = (
        (c[1] - r - 1.0).floor() as i64,
        (c[1] + r + 1.0).ceil() as i64,
    );
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = ((x as f32 - c[0]).powi(2) + (y as f32 - c[1]).powi(2)).sqrt();
            plot(img, x, y, color, alpha * (r + 0.5 - d).clamp(0.0, 1.0));
        }
    }
}

/// A closed polygon through `points`.
pub fn draw_polygon(img: &mut RgbImage, points: &[[f32; 2]], color: [u8; 3], alpha: f32) {
    for i in 0..points.len() {
        draw_line(img, points[i], points[(i + 1) % points.len()], color, alpha);
    }
}

/// A circle of radius `r` pixels (a 48-gon).
pub fn draw_circle(img: &mut RgbImage, c: [f32; 2], r: f32, color: [u8; 3], alpha: f32) {
    let pts: Vec<[f32; 2]> = (0..48)
        .map(|i| {
            let a = i as f32 * std::f32::consts::TAU / 48.0;
            [c[0] + r * a.cos(), c[1] + r * a.sin()]
        })
        .collect();
    draw_polygon(img, &pts, color, alpha);
}

/// Draws analysed faces: the mesh, the irises, the detection box, the ROI
/// and the head pose axes (x red, y green, z blue, from the canonical
/// origin).
pub fn draw_faces(
    img: &mut RgbImage,
    faces: &[super::analyze::Face],
    canonical: &super::canonical::CanonicalFace,
) {
    for face in faces {
        let scale = (face.interocular() / 150.0).clamp(0.4, 3.0);
        let p = |i: u32| {
            let v = face.landmarks[i as usize];
            [v[0], v[1]]
        };
        for t in &canonical.triangles {
            draw_polygon(img, &[p(t[0]), p(t[1]), p(t[2])], [80, 220, 255], 0.45);
        }
        for ring in [&canonical.groups.lips_outer, &canonical.groups.lips_inner] {
            let pts: Vec<[f32; 2]> = ring.iter().map(|&i| p(i as u32)).collect();
            draw_polygon(img, &pts, [255, 80, 120], 0.9);
        }
        for lid in [
            &canonical.groups.right_eye_upper,
            &canonical.groups.right_eye_lower,
            &canonical.groups.left_eye_upper,
            &canonical.groups.left_eye_lower,
        ] {
            for w in lid.windows(2) {
                draw_line(img, p(w[0] as u32), p(w[1] as u32), [255, 230, 60], 0.9);
            }
        }
        for eye in face.eyes.iter().flatten() {
            let c = [eye.iris[0][0], eye.iris[0][1]];
            draw_circle(img, c, eye.iris_radius(), [255, 140, 0], 0.95);
            draw_dot(img, c, 1.2 * scale, [255, 140, 0], 0.95);
        }
        let d = &face.detection;
        draw_polygon(
            img,
            &[
                [d.xmin, d.ymin],
                [d.xmax, d.ymin],
                [d.xmax, d.ymax],
                [d.xmin, d.ymax],
            ],
            [60, 255, 60],
            0.9,
        );
        let r = &face.roi;
        let corners =
            [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].map(|(a, b)| r.to_image(a, b));
        draw_polygon(img, &corners, [255, 255, 255], 0.5);
        for k in &d.keypoints {
            draw_dot(img, *k, 2.0 * scale, [60, 255, 60], 0.9);
        }
        let pose = &face.pose.pose;
        let o = pose.project_point([0.0, 0.0, 0.0]);
        for (axis, color) in [
            ([6.0, 0.0, 0.0], [255, 40, 40]),
            ([0.0, 6.0, 0.0], [40, 255, 40]),
            ([0.0, 0.0, 6.0], [60, 120, 255]),
        ] {
            let e = pose.project_point(axis);
            for off in [-0.5f32, 0.0, 0.5] {
                draw_line(img, [o[0] + off, o[1]], [e[0] + off, e[1]], color, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_dots_touch_the_expected_pixels() {
        let mut img = RgbImage::new(20, 20);
        draw_line(&mut img, [2.0, 10.0], [17.0, 10.0], [255, 0, 0], 1.0);
        assert_eq!(img.get_pixel(10, 10).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(10, 5).0, [0, 0, 0]);
        draw_line(&mut img, [10.0, 2.0], [10.0, 17.0], [0, 255, 0], 1.0);
        assert_eq!(img.get_pixel(10, 3).0, [0, 255, 0]);
        draw_dot(&mut img, [5.0, 5.0], 2.0, [0, 0, 255], 1.0);
        assert_eq!(img.get_pixel(5, 5).0, [0, 0, 255]);
        assert_eq!(img.get_pixel(4, 4).0, [0, 0, 255]);
        assert_eq!(img.get_pixel(8, 5).0, [0, 0, 0]);
        // Off-image and non-finite input is ignored, not a panic.
        draw_line(&mut img, [-1e9, -5.0], [1e9, 30.0], [9, 9, 9], 1.0);
        draw_line(&mut img, [f32::NAN, 0.0], [1.0, 1.0], [9, 9, 9], 1.0);
        draw_polygon(
            &mut img,
            &[[1.0, 1.0], [8.0, 1.0], [8.0, 8.0]],
            [1, 2, 3],
            0.5,
        );
    }
}
