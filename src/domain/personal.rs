//! A wrapper for personal data (identifier values, names, e-mails, phones):
//! usable by the code that needs the value, unprintable by accident.

use std::fmt;

/// A piece of personal data. `Debug` and `Display` print `<redacted>`; the
/// value is reached only through [`Personal::expose`], which makes every use
/// visible in review.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Personal(String);

impl Personal {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: for upstream bodies and responses only, never for
    /// logs, spans, metrics or error messages.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Personal;

    #[test]
    fn formatting_never_shows_the_value() {
        let cpf = Personal::new("52998224725");
        assert_eq!(
            format!("{cpf:?} {cpf} {cpf:#?}"),
            "<redacted> <redacted> <redacted>"
        );
        assert_eq!(cpf.expose(), "52998224725");
    }
}
