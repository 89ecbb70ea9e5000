//! Request → domain: checks what the upstream would reject, before any
//! upstream call, collecting every violation with its gRPC field path. The
//! rules mirror the reference pages; `crate::status` gives each rule the
//! reason and upstream code the vendor's rejection would have carried.
//!
//! - `process`: SetProcessDocument (IDCloud client API);
//! - `document`: CreateDocumentProcess (ID API);
//! - `journey`: CreateProcess, GetProcess, WatchProcess (IDCloud);
//! - `document_reads`: ListReusableDocuments, Get/WatchDocumentProcess;
//! - `identifiers`: identifier formats (CPF check digits, CURP, …) and the
//!   other subject fields;
//! - `image`: document images, read from their header only.

mod document;
mod document_reads;
mod identifiers;
mod image;
mod journey;
mod process;

pub use crate::domain::ImageLimits;
use crate::domain::{PROCESS_ID_MAX_CHARS, ProcessId, ProcessIdError};
pub use document::{MAX_FILES, create_document_process};
pub use document_reads::{document_process_id, list_reusable_documents};
pub use journey::{create_process, journey_process_id};
pub use process::{DUI_VALUE_MAX_CHARS, set_process_document};

/// Characters people type to format identifiers (`123.456.789-09`,
/// `123 45 6789`), which the vendor wants removed ("without dots or dashes",
/// "without formatting symbols"). Only these: the set-process-document page
/// leaves room for "encoded or composite identifiers", so other characters
/// (`_`, parentheses, …) are the vendor's to judge.
pub(crate) const FORMATTING_SYMBOLS: &[char] = &['.', '-', '/', ' '];

/// A broken rule. The set is closed so that the status table can give each
/// one a stable reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    ProcessIdMissing,
    ProcessIdTooLong,
    ProcessIdMalformed,
    DuiTypeMissing,
    DuiTypeUnknown,
    DuiTypeNotAccepted,
    DuiValueMissing,
    DuiValueTooLong,
    DuiValueFormatted,
    SubjectMissing,
    SubjectDuiTypeMissing,
    SubjectCodeMissing,
    SubjectCodeInvalid,
    SubjectNameInvalid,
    SubjectGenderInvalid,
    SubjectBirthDateInvalid,
    SubjectEmailInvalid,
    SubjectPhoneInvalid,
    DocumentMissing,
    PurposeInvalid,
    AuthProcessIdInvalid,
    CaptureMissing,
    TooManyFiles,
    ImageMissing,
    ImageTooLarge,
    ImageFormatUnsupported,
    ImageUndecodable,
    ImageResolutionTooLow,
    ReusableCodeMissing,
    ReusableCodeFormatted,
    DocumentTypeMissing,
    DocumentTypeUnknown,
    DocumentProcessIdMissing,
    DocumentProcessIdTooLong,
    DocumentProcessIdMalformed,
    FriendlyNameTooLong,
    PhoneRequiredByChannel,
    PhoneMalformed,
    EmailRequiredByChannel,
}

impl Rule {
    /// Every rule, for tables that must cover them all.
    pub const ALL: [Rule; 39] = [
        Rule::ProcessIdMissing,
        Rule::ProcessIdTooLong,
        Rule::ProcessIdMalformed,
        Rule::DuiTypeMissing,
        Rule::DuiTypeUnknown,
        Rule::DuiTypeNotAccepted,
        Rule::DuiValueMissing,
        Rule::DuiValueTooLong,
        Rule::DuiValueFormatted,
        Rule::SubjectMissing,
        Rule::SubjectDuiTypeMissing,
        Rule::SubjectCodeMissing,
        Rule::SubjectCodeInvalid,
        Rule::SubjectNameInvalid,
        Rule::SubjectGenderInvalid,
        Rule::SubjectBirthDateInvalid,
        Rule::SubjectEmailInvalid,
        Rule::SubjectPhoneInvalid,
        Rule::DocumentMissing,
        Rule::PurposeInvalid,
        Rule::AuthProcessIdInvalid,
        Rule::CaptureMissing,
        Rule::TooManyFiles,
        Rule::ImageMissing,
        Rule::ImageTooLarge,
        Rule::ImageFormatUnsupported,
        Rule::ImageUndecodable,
        Rule::ImageResolutionTooLow,
        Rule::ReusableCodeMissing,
        Rule::ReusableCodeFormatted,
        Rule::DocumentTypeMissing,
        Rule::DocumentTypeUnknown,
        Rule::DocumentProcessIdMissing,
        Rule::DocumentProcessIdTooLong,
        Rule::DocumentProcessIdMalformed,
        Rule::FriendlyNameTooLong,
        Rule::PhoneRequiredByChannel,
        Rule::PhoneMalformed,
        Rule::EmailRequiredByChannel,
    ];
}

/// One field that breaks one rule. The description is English for
/// developers and never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The gRPC request's field path, e.g. `document.new_capture.files[1].data`.
    pub field: String,
    pub rule: Rule,
    pub description: String,
}

/// A request the facade refuses without calling the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", violations.len())]
pub struct InvalidRequest {
    /// Never empty; in the order of the request's fields.
    pub violations: Vec<Violation>,
}

#[derive(Default)]
pub(crate) struct Collector(Vec<Violation>);

impl Collector {
    pub(crate) fn push(
        &mut self,
        field: impl Into<String>,
        rule: Rule,
        description: impl Into<String>,
    ) {
        self.0.push(Violation {
            field: field.into(),
            rule,
            description: description.into(),
        });
    }

    /// A process id as one URL segment, or its violation under `rules`
    /// (missing, too long, malformed) on the `process_id` field.
    pub(crate) fn process_id(&mut self, raw: &str, rules: [Rule; 3]) -> Option<ProcessId> {
        let [missing, too_long, malformed] = rules;
        let (rule, description) = match ProcessId::parse(raw) {
            Ok(id) => return Some(id),
            Err(ProcessIdError::Missing) => (missing, "process_id is required".to_owned()),
            Err(ProcessIdError::TooLong) => (
                too_long,
                format!("process_id must be at most {PROCESS_ID_MAX_CHARS} characters"),
            ),
            Err(ProcessIdError::Malformed) => (
                malformed,
                "process_id must not contain control characters or be `.` or `..`".to_owned(),
            ),
        };
        self.push("process_id", rule, description);
        None
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, InvalidRequest> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(InvalidRequest { violations: self.0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    /// Fails to compile when a rule is added without being listed in `ALL`.
    #[test]
    fn all_lists_every_rule() {
        for rule in Rule::ALL {
            match rule {
                Rule::ProcessIdMissing
                | Rule::ProcessIdTooLong
                | Rule::ProcessIdMalformed
                | Rule::DuiTypeMissing
                | Rule::DuiTypeUnknown
                | Rule::DuiTypeNotAccepted
                | Rule::DuiValueMissing
                | Rule::DuiValueTooLong
                | Rule::DuiValueFormatted
                | Rule::SubjectMissing
                | Rule::SubjectDuiTypeMissing
                | Rule::SubjectCodeMissing
                | Rule::SubjectCodeInvalid
                | Rule::SubjectNameInvalid
                | Rule::SubjectGenderInvalid
                | Rule::SubjectBirthDateInvalid
                | Rule::SubjectEmailInvalid
                | Rule::SubjectPhoneInvalid
                | Rule::DocumentMissing
                | Rule::PurposeInvalid
                | Rule::AuthProcessIdInvalid
                | Rule::CaptureMissing
                | Rule::TooManyFiles
                | Rule::ImageMissing
                | Rule::ImageTooLarge
                | Rule::ImageFormatUnsupported
                | Rule::ImageUndecodable
                | Rule::ImageResolutionTooLow
                | Rule::ReusableCodeMissing
                | Rule::ReusableCodeFormatted
                | Rule::DocumentTypeMissing
                | Rule::DocumentTypeUnknown
                | Rule::DocumentProcessIdMissing
                | Rule::DocumentProcessIdTooLong
                | Rule::DocumentProcessIdMalformed
                | Rule::FriendlyNameTooLong
                | Rule::PhoneRequiredByChannel
                | Rule::PhoneMalformed
                | Rule::EmailRequiredByChannel => {}
            }
        }
        let unique: std::collections::HashSet<Rule> = Rule::ALL.into_iter().collect();
        assert_eq!(unique.len(), Rule::ALL.len());
    }
}
