//! MNIST-style preprocessing of any digit picture: grey, invert light backgrounds, crop to
//! the ink, fit into 20×20 keeping the aspect ratio, centre by mass in 28×28.

use std::path::Path;

use crate::data::IMAGE_SIDE;

/// Why a picture could not be turned into a digit.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// The file is not a readable image.
    #[error("{path}: cannot read image: {detail}")]
    Unreadable {
        path: String,
        /// What the image decoder said.
        detail: String,
    },
    /// No pixel has ink: nothing to centre.
    #[error("the picture is blank: no ink found")]
    Blank,
}

/// Largest picture side accepted (a phone photo is about 4,000 pixels).
const MAX_SIDE: u32 = 8192;

/// Most memory the decoder may take: a 12-megapixel RGBA photo is 48 MiB. The PNG decoder
/// also spends it on ancillary chunks (a compressed colour profile, text), which it grows by
/// doubling: at 512 MiB a 486 KB file with a 500 MB profile took about 1 GB.
const MAX_DECODE_BYTES: u64 = 64 << 20;

/// Loads a picture file (PNG) as grey intensities in [0, 1], with its width and height. The
/// file must be a regular file of at most [`crate::fsutil::limits::IMAGE_BYTES`]; its declared
/// width and height are checked (at most [`MAX_SIDE`] each) before the pixels are decoded,
/// and the decoder's memory is capped at [`MAX_DECODE_BYTES`].
/// A picture with transparency is read through its alpha channel: ink is what is opaque,
/// whatever its colour, so dark ink on a transparent background is a digit, not a blank.
pub fn load_grey(path: &Path) -> Result<(Vec<f32>, usize, usize), PreprocessError> {
    let unreadable = |detail: String| PreprocessError::Unreadable {
        path: path.display().to_string(),
        detail,
    };
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::limits::IMAGE_BYTES)
        .map_err(|e| unreadable(e.to_string()))?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| unreadable(e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey = match img.color().has_alpha().then(|| img.to_rgba8()) {
        Some(rgba) if rgba.pixels().any(|p| p.0[3] < 255) => {
            rgba.pixels().map(|p| f32::from(p.0[3]) / 255.0).collect()
        }
        _ => img
            .to_luma8()
            .into_raw()
            .into_iter()
            .map(|p| f32::from(p) / 255.0)
            .collect(),
    };
    Ok((grey, w, h))
}

/// Turns a grey picture (`w × h`, values in [0, 1]) into a 28×28 MNIST-style image.
pub fn mnist_style(grey: &[f32], w: usize, h: usize) -> Result<Vec<f32>, PreprocessError> {
    if w == 0 || h == 0 || grey.len() < w * h {
        return Err(PreprocessError::Blank);
    }
    // Light background (judged by the border) → invert so ink is bright.
    let border: Vec<f32> = (0..w * h)
        .filter(|&i| {
            let (x, y) = (i % w, i / w);
            x == 0 || y == 0 || x == w - 1 || y == h - 1
        })
        .map(|i| grey[i])
        .collect();
    let invert = border.iter().sum::<f32>() / border.len() as f32 > 0.5;
    let ink: Vec<f32> = grey[..w * h]
        .iter()
        .map(|&v| if invert { 1.0 - v } else { v })
        .collect();
    // Crop to the ink.
    let threshold = 0.2;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, &v) in ink.iter().enumerate() {
        if v > threshold {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 == usize::MAX {
        return Err(PreprocessError::Blank);
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    // Fit into 20×20 keeping the aspect ratio (area-averaged by 4×4 supersampling).
    let scale = 20.0 / cw.max(ch) as f32;
    let (tw, th) = (
        ((cw as f32 * scale).round() as usize).max(1),
        ((ch as f32 * scale).round() as usize).max(1),
    );
    let mut fitted = vec![0f32; tw * th];
    for ty in 0..th {
        for tx in 0..tw {
            let mut acc = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let fx = x0 as f32 + (tx as f32 + (sx as f32 + 0.5) / 4.0) / scale;
                    let fy = y0 as f32 + (ty as f32 + (sy as f32 + 0.5) / 4.0) / scale;
                    let (ix, iy) = ((fx as usize).min(w - 1), (fy as usize).min(h - 1));
                    acc += ink[iy * w + ix];
                }
            }
            fitted[ty * tw + tx] = acc / 16.0;
        }
    }
    // Centre of mass of the fitted digit → integer shift to the centre of 28×28.
    let (mut m, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32);
    for (i, &v) in fitted.iter().enumerate() {
        m += v;
        sx += v * ((i % tw) as f32 + 0.5);
        sy += v * ((i / tw) as f32 + 0.5);
    }
    let half = IMAGE_SIDE as f32 / 2.0;
    let (ox, oy) = (
        (half - sx / m.max(1e-6)).round() as i64,
        (half - sy / m.max(1e-6)).round() as i64,
    );
    let mut out = vec![0f32; IMAGE_SIDE * IMAGE_SIDE];
    for ty in 0..th {
        for tx in 0..tw {
            let (x, y) = (tx as i64 + ox, ty as i64 + oy);
            if (0..IMAGE_SIDE as i64).contains(&x) && (0..IMAGE_SIDE as i64).contains(&y) {
                out[y as usize * IMAGE_SIDE + x as usize] = fitted[ty * tw + tx].clamp(0.0, 1.0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_bar_on_white_becomes_a_centred_bright_bar() {
        // A 100×60 white picture with a black vertical bar near the left edge.
        let (w, h) = (100, 60);
        let mut grey = vec![1.0f32; w * h];
        for y in 10..50 {
            for x in 5..13 {
                grey[y * w + x] = 0.0;
            }
        }
        let out = mnist_style(&grey, w, h).unwrap();
        let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for (i, &v) in out.iter().enumerate() {
            m += v;
            sx += v * ((i % 28) as f32 + 0.5);
            sy += v * ((i / 28) as f32 + 0.5);
        }
        assert!((sx / m - 14.0).abs() <= 1.0 && (sy / m - 14.0).abs() <= 1.0);
        // Bar height fitted to 20 rows.
        let rows_with_ink = (0..28).filter(|y| (0..28).any(|x| out[y * 28 + x] > 0.5)).count();
        assert_eq!(rows_with_ink, 20);
        // Corners are background.
        assert_eq!(out[0], 0.0);
    }

    fn temp_png(name: &str, img: &image::RgbaImage) -> crate::fsutil::scratch::ScratchFile {
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        crate::fsutil::scratch::ScratchDir::file("preprocess", name, png.get_ref())
    }

    #[test]
    fn dark_ink_on_a_transparent_background_is_read_through_alpha() {
        // Black ink (opaque) on fully transparent black: by luma alone every pixel is 0, i.e.
        // blank; through alpha the bar is the digit.
        let mut img = image::RgbaImage::from_pixel(40, 40, image::Rgba([0, 0, 0, 0]));
        for y in 8..32 {
            for x in 18..22 {
                img.put_pixel(x, y, image::Rgba([0, 0, 0, 255]));
            }
        }
        let path = temp_png("alpha-bar.png", &img);
        let (grey, w, h) = load_grey(&path).unwrap();
        assert_eq!((w, h), (40, 40));
        assert_eq!(grey[20 * 40 + 20], 1.0, "the opaque ink reads as full ink");
        assert_eq!(grey[0], 0.0, "the transparent background reads as no ink");
        let out = mnist_style(&grey, w, h).unwrap();
        let rows_with_ink = (0..28).filter(|y| (0..28).any(|x| out[y * 28 + x] > 0.5)).count();
        assert_eq!(rows_with_ink, 20, "the bar fills the 20-row box");
    }

    #[test]
    fn blank_picture_is_refused() {
        assert!(matches!(
            mnist_style(&vec![1.0; 100], 10, 10),
            Err(PreprocessError::Blank)
        ));
    }
}
