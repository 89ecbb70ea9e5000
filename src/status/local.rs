//! Refusals by the facade itself, before any upstream call: the local
//! validation rules (each with the reason and code the vendor's own
//! rejection of the same input carries), the facade's limits, and
//! credentials that could not be had.

use std::{collections::HashMap, time::Duration};

use tonic::Code::*;
use tonic_types::{ErrorDetails, FieldViolation, LocalizedMessage};

use super::{
    DEFAULT_RETRY_DELAY, Mapped, Origin,
    vendor::{Key, VENDOR_ROWS},
};
use crate::{
    credentials::{CredentialsError, TokenWaitError},
    upstream::{
        Api::{self, Id, IdCloud},
        TokenError,
    },
    validation::{InvalidRequest, Rule},
};

/// Local validation: each rule's reason, and the vendor code (of the API
/// family named) that the vendor's own rejection of the same input carries.
/// Where the reference pages document no code for a condition the facade
/// checks, the closest documented one is used (see
/// [`upstream_code_assumed`], which ErrorInfo reports).
#[rustfmt::skip]
pub const LOCAL_RULES: &[(Rule, &str, Api, Option<i64>)] = &[
    // SetProcessDocument: the IDCloud API answers 3 for every field problem.
    (Rule::ProcessIdMissing, "PROCESS_ID_INVALID", IdCloud, Some(3)),
    (Rule::ProcessIdMalformed, "PROCESS_ID_INVALID", IdCloud, Some(3)),
    (Rule::ProcessIdTooLong, "PROCESS_ID_TOO_LONG", IdCloud, Some(3)),
    (Rule::DuiTypeMissing, "DUI_TYPE_REQUIRED", IdCloud, Some(3)),
    (Rule::DuiTypeUnknown, "DUI_TYPE_INVALID", IdCloud, Some(3)),
    (Rule::DuiTypeNotAccepted, "DUI_TYPE_NOT_ACCEPTED", IdCloud, Some(3)),
    (Rule::DuiValueMissing, "DUI_VALUE_REQUIRED", IdCloud, Some(3)),
    (Rule::DuiValueTooLong, "DUI_VALUE_TOO_LONG", IdCloud, Some(3)),
    (Rule::DuiValueFormatted, "DUI_VALUE_FORMATTED", IdCloud, Some(3)),
    // CreateDocumentProcess: the ID API's five-digit codes.
    (Rule::SubjectMissing, "SUBJECT_REQUIRED", Id, Some(20004)),
    (Rule::SubjectDuiTypeMissing, "SUBJECT_DUI_TYPE_INVALID", Id, Some(20507)), // assumed
    (Rule::SubjectCodeMissing, "SUBJECT_CODE_REQUIRED", Id, Some(20005)),
    (Rule::SubjectCodeInvalid, "SUBJECT_CODE_INVALID", Id, Some(20507)),
    (Rule::SubjectNameInvalid, "SUBJECT_NAME_INVALID", Id, Some(20509)),
    (Rule::SubjectGenderInvalid, "SUBJECT_GENDER_INVALID", Id, Some(20508)),
    (Rule::SubjectBirthDateInvalid, "SUBJECT_BIRTH_DATE_INVALID", Id, Some(20019)),
    (Rule::SubjectEmailInvalid, "SUBJECT_EMAIL_INVALID", Id, Some(20008)),
    (Rule::SubjectPhoneInvalid, "SUBJECT_PHONE_INVALID", Id, Some(20021)),
    (Rule::DocumentMissing, "DOCUMENT_REQUIRED", Id, Some(99988)),
    (Rule::PurposeInvalid, "DOCUMENT_PURPOSE_INVALID", Id, Some(20067)),
    (Rule::AuthProcessIdInvalid, "AUTH_PROCESS_ID_INVALID", Id, Some(20066)),
    (Rule::CaptureMissing, "DOCUMENT_CAPTURE_MISSING", Id, Some(20068)),
    (Rule::TooManyFiles, "TOO_MANY_FILES", Id, Some(99989)), // assumed
    (Rule::ImageMissing, "IMAGE_MISSING", Id, Some(20009)),
    (Rule::ImageTooLarge, "IMAGE_TOO_LARGE", Id, Some(20506)),
    (Rule::ImageFormatUnsupported, "IMAGE_FORMAT_UNSUPPORTED", Id, Some(20505)),
    (Rule::ImageUndecodable, "IMAGE_INVALID", Id, Some(20900)),
    (Rule::ImageResolutionTooLow, "IMAGE_RESOLUTION_TOO_LOW", Id, Some(20807)),
    // The ID API's reads (`more-endpoints.md`): the page documents a 400
    // for these, without a code.
    (Rule::ReusableCodeMissing, "CODE_REQUIRED", Id, None),
    (Rule::ReusableCodeFormatted, "CODE_FORMATTED", Id, None),
    (Rule::DocumentTypeMissing, "DOCUMENT_TYPE_REQUIRED", Id, None),
    (Rule::DocumentTypeUnknown, "DOCUMENT_TYPE_INVALID", Id, None),
    (Rule::DocumentProcessIdMissing, "PROCESS_ID_INVALID", Id, None),
    (Rule::DocumentProcessIdMalformed, "PROCESS_ID_INVALID", Id, None),
    (Rule::DocumentProcessIdTooLong, "PROCESS_ID_TOO_LONG", Id, None),
    // CreateProcess (`idcloud-process.md`): the rules its error rows state.
    (Rule::FriendlyNameTooLong, "PERSON_FRIENDLY_NAME_TOO_LONG", IdCloud, Some(3)),
    (Rule::PhoneRequiredByChannel, "PERSON_PHONE_INVALID", IdCloud, Some(3)),
    (Rule::PhoneMalformed, "PERSON_PHONE_INVALID", IdCloud, Some(3)),
    (Rule::EmailRequiredByChannel, "PERSON_EMAIL_REQUIRED", IdCloud, Some(3)),
];

/// Whether the vendor code a local rule carries in `upstreamCode` is the
/// facade's reading rather than one a reference page states for that
/// condition. ErrorInfo then says so (`upstreamCodeAssumed: "true"`), so that
/// a client does not take the code for the vendor's word. Exhaustive, so
/// that a new rule must decide.
pub fn upstream_code_assumed(rule: Rule) -> bool {
    match rule {
        // The facade's own bounds on a value that becomes a URL path
        // segment: the vendor's "process id is invalid" (3) is the closest
        // answer, but no page says what the vendor answers to an id that
        // cannot be sent.
        Rule::ProcessIdMissing | Rule::ProcessIdMalformed | Rule::ProcessIdTooLong => true,
        // The page names the three types and "without formatting symbols",
        // but lists no message (so no row) for either refusal.
        Rule::DuiTypeUnknown | Rule::DuiTypeNotAccepted | Rule::DuiValueFormatted => true,
        // No code for an unset subject type, nor for a third file.
        Rule::SubjectDuiTypeMissing | Rule::TooManyFiles => true,
        // Stated by the pages with their code (or, for the reads, carrying
        // no code at all).
        Rule::DuiTypeMissing
        | Rule::DuiValueMissing
        | Rule::DuiValueTooLong
        | Rule::SubjectMissing
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
        | Rule::EmailRequiredByChannel => false,
    }
}

/// RESOURCE_EXHAUSTED for a limit of the facade's own.
pub(super) fn facade_limit(
    reason: &'static str,
    message: String,
    (key, value): (&str, usize),
    retry: Option<Duration>,
) -> Mapped {
    let mut details = ErrorDetails::new();
    if let Some(delay) = retry {
        details.set_retry_info(Some(delay));
    }
    Mapped {
        message,
        metadata: HashMap::from([(key.to_owned(), value.to_string())]),
        details,
        ..Mapped::new(ResourceExhausted, reason, Origin::Facade)
    }
}

/// A request refused by local validation: INVALID_ARGUMENT with every
/// violation in one BadRequest.
pub(super) fn local(invalid: &InvalidRequest) -> Mapped {
    let mut details = ErrorDetails::new();
    let rows: Vec<(&'static str, Api, Option<i64>)> = invalid
        .violations
        .iter()
        .map(|v| local_rule(v.rule))
        .collect();
    let violations: Vec<FieldViolation> = invalid
        .violations
        .iter()
        .zip(&rows)
        .map(|(v, (reason, api, code))| {
            let mut violation = FieldViolation::new(&v.field, &v.description);
            violation.reason = (*reason).to_owned();
            violation.localized_message =
                pt_br_message(*api, *code, reason).map(|m| LocalizedMessage::new("pt-BR", m));
            violation
        })
        .collect();
    // The first violation speaks for the whole request in ErrorInfo; each
    // one carries its own reason in BadRequest.
    let (reason, api, upstream_code) =
        rows.first()
            .copied()
            .unwrap_or(("INVALID_REQUEST", IdCloud, None));
    if let Some(message) = pt_br_message(api, upstream_code, reason) {
        details.set_localized_message("pt-BR", message);
    }
    details.set_bad_request(violations);
    let message = match invalid.violations.as_slice() {
        [only] => only.description.clone(),
        many => format!("{} fields are invalid; see BadRequest", many.len()),
    };
    let mut metadata = HashMap::new();
    let first_assumed = invalid
        .violations
        .first()
        .is_some_and(|v| upstream_code_assumed(v.rule));
    if upstream_code.is_some() && first_assumed {
        metadata.insert("upstreamCodeAssumed".to_owned(), "true".to_owned());
    }
    Mapped {
        message,
        upstream_code: upstream_code.map(|code| code.to_string()),
        metadata,
        details,
        ..Mapped::new(InvalidArgument, reason, Origin::Facade)
    }
}

fn local_rule(rule: Rule) -> (&'static str, Api, Option<i64>) {
    LOCAL_RULES
        .iter()
        .find(|(r, ..)| *r == rule)
        .map(|(_, reason, api, code)| (*reason, *api, *code))
        .unwrap_or(("INVALID_REQUEST", IdCloud, None))
}

/// The vendor's documented Portuguese message for the same condition, if it
/// has one (only where the local reason is the vendor row's: a message about
/// another field would mislead).
fn pt_br_message(api: Api, code: Option<i64>, reason: &str) -> Option<&'static str> {
    let code = code?;
    VENDOR_ROWS
        .iter()
        .find(|r| r.api == Some(api) && r.key == Key::Code(code) && r.reason == reason)
        .and_then(|r| r.pt_br)
}

/// The call's credentials could not be had: the caller's metadata, or the
/// facade's own token.
pub(super) fn credentials(error: &CredentialsError) -> Mapped {
    let refused = |code, reason, message: String| Mapped {
        message,
        ..Mapped::new(code, reason, Origin::Facade)
    };
    match error {
        CredentialsError::Missing { key } => Mapped {
            metadata: HashMap::from([("metadataKey".to_owned(), (*key).to_owned())]),
            ..refused(
                Unauthenticated,
                "CREDENTIALS_MISSING",
                format!("missing `{key}` metadata: the vendor credential to forward"),
            )
        },
        CredentialsError::Malformed { key } => Mapped {
            metadata: HashMap::from([("metadataKey".to_owned(), (*key).to_owned())]),
            ..refused(
                Unauthenticated,
                "CREDENTIALS_MALFORMED",
                format!("`{key}` metadata cannot be sent as an HTTP header"),
            )
        },
        // The facade's own credentials: never the caller's fault.
        CredentialsError::Token(TokenWaitError::TimedOut) => refused(
            DeadlineExceeded,
            "UPSTREAM_TOKEN_TIMEOUT",
            "no access token could be obtained within the call's deadline".to_owned(),
        ),
        CredentialsError::Token(TokenWaitError::Failed(token)) => token_failure(token),
        CredentialsError::UnsendableToken => refused(
            Internal,
            "UPSTREAM_TOKEN_UNUSABLE",
            "the vendor issued an access token that cannot be sent in a header".to_owned(),
        ),
    }
}

/// The facade's own token request failed.
fn token_failure(token: &TokenError) -> Mapped {
    let mut details = ErrorDetails::new();
    let (code, reason, message) = match token {
        TokenError::Transient { .. } => {
            details.set_retry_info(Some(DEFAULT_RETRY_DELAY));
            (
                Unavailable,
                "UPSTREAM_TOKEN_UNAVAILABLE",
                "the vendor's token endpoint is unavailable",
            )
        }
        TokenError::Rejected { .. } => (
            Internal,
            "UPSTREAM_CREDENTIALS_REJECTED",
            "the vendor rejected the facade's service account",
        ),
        TokenError::AssertionNotSigned => (
            Internal,
            "SERVICE_ACCOUNT_KEY_UNUSABLE",
            "the facade's service account key could not sign an assertion",
        ),
    };
    let mut metadata = HashMap::new();
    if let Some(code) = token.code() {
        metadata.insert("tokenErrorCode".to_owned(), code.to_string());
    }
    Mapped {
        message: message.to_owned(),
        upstream_http_status: token.http_status(),
        metadata,
        details,
        ..Mapped::new(code, reason, Origin::Facade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mark qualifies `upstreamCode`: a rule without a code has nothing
    /// to mark, so an assumed rule always carries one.
    #[test]
    fn every_assumed_rule_carries_a_code() {
        for rule in Rule::ALL.into_iter().filter(|r| upstream_code_assumed(*r)) {
            let (.., code) = local_rule(rule);
            assert!(code.is_some(), "{rule:?}");
        }
    }

    #[test]
    fn the_mark_follows_the_first_violation() {
        let invalid = |rules: &[Rule]| InvalidRequest {
            violations: rules
                .iter()
                .map(|rule| crate::validation::Violation {
                    field: "f".into(),
                    rule: *rule,
                    description: "d".into(),
                })
                .collect(),
        };
        let marked = local(&invalid(&[Rule::TooManyFiles, Rule::SubjectCodeInvalid]));
        assert_eq!(marked.metadata["upstreamCodeAssumed"], "true");
        let unmarked = local(&invalid(&[Rule::SubjectCodeInvalid, Rule::TooManyFiles]));
        assert!(!unmarked.metadata.contains_key("upstreamCodeAssumed"));
        let no_code = local(&invalid(&[Rule::ReusableCodeMissing]));
        assert!(no_code.metadata.is_empty());
    }
}
