//! Document images, checked the way the ID API checks them but from the
//! header only (no pixel is decoded): present, within the size limit, PNG,
//! JPEG or WebP by their magic bytes, a readable header, at least 640 × 480.

use crate::domain::ImageFormat;

/// Image limits; the defaults read the vendor's page as literally as
/// possible, and each one is configurable because the page is vague.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest raw (decoded) image. "800 KB" read as 800 × 1024 bytes.
    pub max_bytes: usize,
    /// The long side must reach this many pixels…
    pub min_long_side: usize,
    /// …and the short side this many ("HD or above 640 x 480", in either
    /// orientation).
    pub min_short_side: usize,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: 800 * 1024,
            min_long_side: 640,
            min_short_side: 480,
        }
    }
}

/// What is wrong with an image, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageProblem {
    Missing,
    TooLarge,
    UnsupportedFormat,
    Undecodable,
    ResolutionTooLow,
}

pub fn check_image(bytes: &[u8], limits: &ImageLimits) -> Result<ImageFormat, ImageProblem> {
    if bytes.is_empty() {
        return Err(ImageProblem::Missing);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageProblem::TooLarge);
    }
    let format = ImageFormat::sniff(bytes).ok_or(ImageProblem::UnsupportedFormat)?;
    let size = imagesize::blob_size(bytes).map_err(|_| ImageProblem::Undecodable)?;
    let (long, short) = (size.width.max(size.height), size.width.min(size.height));
    if long < limits.min_long_side || short < limits.min_short_side {
        return Err(ImageProblem::ResolutionTooLow);
    }
    Ok(format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG signature and IHDR chunk: enough for a header-only reader.
    pub fn png(width: u32, height: u32, total_len: usize) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        bytes.resize(total_len.max(bytes.len()), 0);
        bytes
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let limits = ImageLimits::default();
        assert_eq!(
            check_image(&png(640, 480, 100), &limits),
            Ok(ImageFormat::Png)
        );
        assert_eq!(
            check_image(&png(480, 640, 100), &limits),
            Ok(ImageFormat::Png)
        );
        assert_eq!(check_image(b"", &limits), Err(ImageProblem::Missing));
        assert_eq!(
            check_image(&png(640, 480, 819_200), &limits),
            Ok(ImageFormat::Png)
        );
        assert_eq!(
            check_image(&png(640, 480, 819_201), &limits),
            Err(ImageProblem::TooLarge)
        );
        assert_eq!(
            check_image(b"GIF89a......", &limits),
            Err(ImageProblem::UnsupportedFormat)
        );
        assert_eq!(
            check_image(b"\x89PNG\r\n\x1a\n", &limits),
            Err(ImageProblem::Undecodable)
        );
        assert_eq!(
            check_image(&png(639, 480, 100), &limits),
            Err(ImageProblem::ResolutionTooLow)
        );
        assert_eq!(
            check_image(&png(640, 479, 100), &limits),
            Err(ImageProblem::ResolutionTooLow)
        );
    }
}
