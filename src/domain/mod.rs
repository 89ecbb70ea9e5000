//! Values parsed at the edge: once one of these exists it is valid, and its
//! `Debug` never prints personal data. The gRPC layer builds them from
//! requests (see `validation`); the upstream client only ever takes them.

mod document;
mod dui;
mod image;
mod personal;
mod process_id;

pub use document::{DocumentKind, Gender, Purpose};
pub use dui::{DuiType, DuiTypeName};
#[cfg(test)]
pub(crate) use image::test_png;
pub use image::{Image, ImageFormat, ImageLimits, ImageProblem};
pub use personal::Personal;
pub use process_id::{PROCESS_ID_MAX_CHARS, ProcessId, ProcessIdError};
