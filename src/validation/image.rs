//! Document images: each problem [`Image::parse`] finds, as the local rule
//! it breaks and the description a caller reads.

use super::Rule;
use crate::domain::{Image, ImageLimits, ImageProblem};

/// The rule and description for an image problem.
pub(super) fn violation(problem: ImageProblem, limits: &ImageLimits) -> (Rule, String) {
    match problem {
        ImageProblem::Missing => (
            Rule::ImageMissing,
            "the image is missing or empty".to_owned(),
        ),
        ImageProblem::TooLarge => (
            Rule::ImageTooLarge,
            format!("the image is larger than {} bytes", limits.max_bytes),
        ),
        ImageProblem::UnsupportedFormat => (
            Rule::ImageFormatUnsupported,
            "the image is not PNG, JPEG or WebP".to_owned(),
        ),
        ImageProblem::Undecodable => (
            Rule::ImageUndecodable,
            "the image header cannot be read".to_owned(),
        ),
        ImageProblem::ResolutionTooLow => (
            Rule::ImageResolutionTooLow,
            format!(
                "the image is under {} x {} pixels",
                limits.min_long_side, limits.min_short_side
            ),
        ),
    }
}

/// Parses every image, or reports each bad one on its own field path.
pub(super) fn parse_all(
    files: &[crate::pb::identity_v1::DocumentFile],
    limits: &ImageLimits,
    errors: &mut super::Collector,
) -> Option<Vec<Image>> {
    let mut images = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        match Image::parse(file.data.clone(), limits) {
            Ok(image) => images.push(image),
            Err(problem) => {
                let (rule, description) = violation(problem, limits);
                errors.push(
                    format!("document.new_capture.files[{index}].data"),
                    rule,
                    description,
                );
            }
        }
    }
    (images.len() == files.len()).then_some(images)
}
