//! The id of an IDCloud process: caller input that ends up in a URL path, so
//! it is checked here and percent-encoded by the upstream client.

use std::fmt;

/// The longest process id accepted. The vendor issues UUIDs (36 characters);
/// the cap keeps hostile input (a 10 KB id) from ever reaching a URL.
pub const PROCESS_ID_MAX_CHARS: usize = 256;

/// A process id that can be sent as exactly one URL path segment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProcessId(String);

/// Why a string is not a usable process id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProcessIdError {
    #[error("process_id is required")]
    Missing,
    #[error("process_id must be at most {PROCESS_ID_MAX_CHARS} characters")]
    TooLong,
    /// Control characters, or `.`/`..`, which URL parsers collapse as dot
    /// segments even when percent-encoded, changing which URL is called.
    #[error("process_id must not contain control characters or be `.` or `..`")]
    Malformed,
}

impl ProcessId {
    pub fn parse(raw: &str) -> Result<Self, ProcessIdError> {
        if raw.trim().is_empty() {
            return Err(ProcessIdError::Missing);
        }
        if raw.chars().count() > PROCESS_ID_MAX_CHARS {
            return Err(ProcessIdError::TooLong);
        }
        if raw == "." || raw == ".." || raw.chars().any(char::is_control) {
            return Err(ProcessIdError::Malformed);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A process id is the vendor's opaque handle, not personal data; the
        // cap above keeps it short enough to print.
        f.debug_tuple("ProcessId").field(&self.0).finish()
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_printable_id_within_the_cap() {
        for id in [
            "abc-123",
            "../x",
            "a/b",
            "?q=1#f",
            "with space",
            "ünï©ødé",
            ".hidden",
        ] {
            assert_eq!(ProcessId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_what_cannot_be_one_path_segment() {
        let cases = [
            ("", ProcessIdError::Missing),
            ("   ", ProcessIdError::Missing),
            (".", ProcessIdError::Malformed),
            ("..", ProcessIdError::Malformed),
            ("a\nb", ProcessIdError::Malformed),
            ("a\u{0}b", ProcessIdError::Malformed),
        ];
        for (id, expected) in cases {
            assert_eq!(ProcessId::parse(id), Err(expected), "{id:?}");
        }
        let long = "x".repeat(PROCESS_ID_MAX_CHARS + 1);
        assert_eq!(ProcessId::parse(&long), Err(ProcessIdError::TooLong));
        assert!(ProcessId::parse(&"x".repeat(PROCESS_ID_MAX_CHARS)).is_ok());
    }
}
