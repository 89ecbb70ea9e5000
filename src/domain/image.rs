//! A document image: raw bytes held without copying, checked the way the ID
//! API checks them but from the header only (no pixel is decoded): present,
//! within the size limit, PNG, JPEG or WebP by their magic bytes, a readable
//! header, at least 640 × 480. An `Image` that exists passed every check and
//! knows its format; its `Debug` prints only its size and format (an image of
//! an identity document is personal data).

use std::fmt;

use bytes::Bytes;

/// Image formats the vendor accepts, recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    WebP,
}

impl ImageFormat {
    /// The format announced by the first bytes, if it is one the vendor takes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(PNG) {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::WebP)
        } else {
            None
        }
    }
}

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

impl ImageLimits {
    /// The defaults, as constants for the command line's help.
    pub const DEFAULT_MAX_BYTES: usize = 800 * 1024;
    pub const DEFAULT_MIN_LONG_SIDE: usize = 640;
    pub const DEFAULT_MIN_SHORT_SIDE: usize = 480;
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            min_long_side: Self::DEFAULT_MIN_LONG_SIDE,
            min_short_side: Self::DEFAULT_MIN_SHORT_SIDE,
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

/// The raw bytes of one document image, as the caller sent them, and the
/// format they were recognised as.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    bytes: Bytes,
    format: ImageFormat,
}

impl Image {
    /// Checks an image against the limits; the bytes are kept, not copied.
    pub fn parse(bytes: Bytes, limits: &ImageLimits) -> Result<Self, ImageProblem> {
        if bytes.is_empty() {
            return Err(ImageProblem::Missing);
        }
        if bytes.len() > limits.max_bytes {
            return Err(ImageProblem::TooLarge);
        }
        let format = ImageFormat::sniff(&bytes).ok_or(ImageProblem::UnsupportedFormat)?;
        let size = imagesize::blob_size(&bytes).map_err(|_| ImageProblem::Undecodable)?;
        let (long, short) = (size.width.max(size.height), size.width.min(size.height));
        if long < limits.min_long_side || short < limits.min_short_side {
            return Err(ImageProblem::ResolutionTooLow);
        }
        Ok(Self { bytes, format })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes as a shared handle on the same memory (no copy), for a
    /// request body that outlives the borrow.
    pub fn shared_bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    pub fn format(&self) -> ImageFormat {
        self.format
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true for a parsed image; here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Image({:?}, {} bytes)", self.format, self.bytes.len())
    }
}

/// Test images: a PNG signature and IHDR chunk, enough for a header-only
/// reader, padded to a length.
#[cfg(test)]
pub(crate) fn test_png(width: u32, height: u32, total_len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(total_len.max(bytes.len()), 0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<ImageFormat, ImageProblem> {
        Image::parse(Bytes::copy_from_slice(bytes), &ImageLimits::default()).map(|i| i.format())
    }

    #[test]
    fn sniffs_the_three_accepted_formats_only() {
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::WebP)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        assert_eq!(ImageFormat::sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(ImageFormat::sniff(b""), None);
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        assert_eq!(parse(&test_png(640, 480, 100)), Ok(ImageFormat::Png));
        assert_eq!(parse(&test_png(480, 640, 100)), Ok(ImageFormat::Png));
        assert_eq!(parse(b""), Err(ImageProblem::Missing));
        assert_eq!(parse(&test_png(640, 480, 819_200)), Ok(ImageFormat::Png));
        assert_eq!(
            parse(&test_png(640, 480, 819_201)),
            Err(ImageProblem::TooLarge)
        );
        assert_eq!(parse(b"GIF89a......"), Err(ImageProblem::UnsupportedFormat));
        assert_eq!(parse(b"\x89PNG\r\n\x1a\n"), Err(ImageProblem::Undecodable));
        assert_eq!(
            parse(&test_png(639, 480, 100)),
            Err(ImageProblem::ResolutionTooLow)
        );
        assert_eq!(
            parse(&test_png(640, 479, 100)),
            Err(ImageProblem::ResolutionTooLow)
        );
    }

    #[test]
    fn the_bytes_are_kept_without_a_copy() {
        let bytes = Bytes::from(test_png(640, 480, 1000));
        let image = Image::parse(bytes.clone(), &ImageLimits::default()).unwrap();
        assert_eq!(image.bytes().as_ptr(), bytes.as_ptr());
    }

    #[test]
    fn debug_shows_the_size_and_format_not_the_bytes() {
        let image =
            Image::parse(Bytes::from(test_png(640, 480, 64)), &ImageLimits::default()).unwrap();
        assert_eq!(format!("{image:?}"), "Image(Png, 64 bytes)");
    }
}
