//! Refusals by the facade itself, before any upstream call: the local
//! validation rules (each with the reason and code the vendor's own
//! rejection of the same input carries), the facade's limits, and
//! credentials that could not be had.

use std::{collections::HashMap, time::Duration};

use tonic::Code::*;
use tonic_types::{ErrorDetails, FieldViolation, LocalizedMessage};

use super::{
    DEFAULT_RETRY_DELAY, Mapped, Origin, Reason, reason,
    vendor::{Key, VENDOR_ROWS},
};
use crate::{
    credentials::{API_KEY_KEY, CredentialsError, TokenWaitError},
    upstream::{
        Api::{self, Id, IdCloud},
        TokenError,
    },
    validation::{InvalidRequest, Rule},
};

/// The vendor code a local refusal carries in `upstreamCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCode {
    /// The code a reference page states for this condition.
    Stated(i64),
    /// The closest documented code: no page states one for this condition,
    /// so ErrorInfo says `upstreamCodeAssumed: "true"` and a client does not
    /// take it for the vendor's word.
    Assumed(i64),
    /// The page documents the refusal without a code.
    Uncoded,
}

impl LocalCode {
    pub const fn code(self) -> Option<i64> {
        match self {
            LocalCode::Stated(code) | LocalCode::Assumed(code) => Some(code),
            LocalCode::Uncoded => None,
        }
    }

    pub const fn assumed(self) -> bool {
        matches!(self, LocalCode::Assumed(_))
    }
}

use LocalCode::{Assumed, Stated, Uncoded};

/// Local validation: each rule's reason, and the vendor code (of the API
/// family named) that the vendor's own rejection of the same input carries,
/// stated by a reference page or, where the pages give none for the
/// condition, the closest documented one, marked assumed.
#[rustfmt::skip]
pub const LOCAL_RULES: &[(Rule, &str, Api, LocalCode)] = &[
    // SetProcessDocument: the IDCloud API answers 3 for every field problem.
    // The facade's own bounds on a value that becomes a path segment: no
    // page says what the vendor answers to an id that cannot be sent.
    (Rule::ProcessIdMissing, "PROCESS_ID_INVALID", IdCloud, Assumed(3)),
    (Rule::ProcessIdMalformed, "PROCESS_ID_INVALID", IdCloud, Assumed(3)),
    (Rule::ProcessIdTooLong, "PROCESS_ID_TOO_LONG", IdCloud, Assumed(3)),
    (Rule::DuiTypeMissing, "DUI_TYPE_REQUIRED", IdCloud, Stated(3)),
    // The page names the three types and "without formatting symbols" but
    // lists no message (so no row) for these refusals.
    (Rule::DuiTypeUnknown, "DUI_TYPE_INVALID", IdCloud, Assumed(3)),
    (Rule::DuiTypeNotAccepted, "DUI_TYPE_NOT_ACCEPTED", IdCloud, Assumed(3)),
    (Rule::DuiValueMissing, "DUI_VALUE_REQUIRED", IdCloud, Stated(3)),
    (Rule::DuiValueTooLong, "DUI_VALUE_TOO_LONG", IdCloud, Stated(3)),
    (Rule::DuiValueFormatted, "DUI_VALUE_FORMATTED", IdCloud, Assumed(3)),
    // CreateDocumentProcess: the ID API's five-digit codes.
    (Rule::SubjectMissing, "SUBJECT_REQUIRED", Id, Stated(20004)),
    // No code for an unset subject type (nor, below, for a third file).
    (Rule::SubjectDuiTypeMissing, "SUBJECT_DUI_TYPE_INVALID", Id, Assumed(20507)),
    (Rule::SubjectCodeMissing, "SUBJECT_CODE_REQUIRED", Id, Stated(20005)),
    (Rule::SubjectCodeInvalid, "SUBJECT_CODE_INVALID", Id, Stated(20507)),
    (Rule::SubjectNameInvalid, "SUBJECT_NAME_INVALID", Id, Stated(20509)),
    (Rule::SubjectGenderInvalid, "SUBJECT_GENDER_INVALID", Id, Stated(20508)),
    (Rule::SubjectBirthDateInvalid, "SUBJECT_BIRTH_DATE_INVALID", Id, Stated(20019)),
    (Rule::SubjectEmailInvalid, "SUBJECT_EMAIL_INVALID", Id, Stated(20008)),
    (Rule::SubjectPhoneInvalid, "SUBJECT_PHONE_INVALID", Id, Stated(20021)),
    (Rule::DocumentMissing, "DOCUMENT_REQUIRED", Id, Stated(99988)),
    (Rule::PurposeInvalid, "DOCUMENT_PURPOSE_INVALID", Id, Stated(20067)),
    (Rule::AuthProcessIdInvalid, "AUTH_PROCESS_ID_INVALID", Id, Stated(20066)),
    (Rule::CaptureMissing, "DOCUMENT_CAPTURE_MISSING", Id, Stated(20068)),
    (Rule::TooManyFiles, "TOO_MANY_FILES", Id, Assumed(99989)),
    (Rule::ImageMissing, "IMAGE_MISSING", Id, Stated(20009)),
    (Rule::ImageTooLarge, "IMAGE_TOO_LARGE", Id, Stated(20506)),
    (Rule::ImageFormatUnsupported, "IMAGE_FORMAT_UNSUPPORTED", Id, Stated(20505)),
    (Rule::ImageUndecodable, "IMAGE_INVALID", Id, Stated(20900)),
    (Rule::ImageResolutionTooLow, "IMAGE_RESOLUTION_TOO_LOW", Id, Stated(20807)),
    // The ID API's reads (`more-endpoints.md`): the page documents a 400
    // for these, without a code.
    (Rule::ReusableCodeMissing, "CODE_REQUIRED", Id, Uncoded),
    (Rule::ReusableCodeFormatted, "CODE_FORMATTED", Id, Uncoded),
    (Rule::DocumentTypeMissing, "DOCUMENT_TYPE_REQUIRED", Id, Uncoded),
    (Rule::DocumentTypeUnknown, "DOCUMENT_TYPE_INVALID", Id, Uncoded),
    (Rule::DocumentProcessIdMissing, "PROCESS_ID_INVALID", Id, Uncoded),
    (Rule::DocumentProcessIdMalformed, "PROCESS_ID_INVALID", Id, Uncoded),
    (Rule::DocumentProcessIdTooLong, "PROCESS_ID_TOO_LONG", Id, Uncoded),
    // CreateProcess (`idcloud-process.md`): the rules its error rows state.
    (Rule::FriendlyNameTooLong, "PERSON_FRIENDLY_NAME_TOO_LONG", IdCloud, Stated(3)),
    (Rule::PhoneRequiredByChannel, "PERSON_PHONE_INVALID", IdCloud, Stated(3)),
    (Rule::PhoneMalformed, "PERSON_PHONE_INVALID", IdCloud, Stated(3)),
    (Rule::EmailRequiredByChannel, "PERSON_EMAIL_REQUIRED", IdCloud, Stated(3)),
];

/// Whether the vendor code a local rule carries in `upstreamCode` is the
/// facade's reading rather than one a reference page states for that
/// condition (the rule's [`LocalCode`]).
pub fn upstream_code_assumed(rule: Rule) -> bool {
    local_rule(rule).2.assumed()
}

/// RESOURCE_EXHAUSTED for a limit of the facade's own.
pub(super) fn facade_limit(
    reason: Reason,
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
    let rows: Vec<(&'static str, Api, LocalCode)> = invalid
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
                pt_br_message(*api, code.code(), reason).map(|m| LocalizedMessage::new("pt-BR", m));
            violation
        })
        .collect();
    // The first violation speaks for the whole request in ErrorInfo; each
    // one carries its own reason in BadRequest.
    let (reason, api, local_code) =
        rows.first()
            .copied()
            .unwrap_or((reason!("INVALID_REQUEST").as_str(), IdCloud, Uncoded));
    let upstream_code = local_code.code();
    if let Some(message) = pt_br_message(api, upstream_code, reason) {
        details.set_localized_message("pt-BR", message);
    }
    details.set_bad_request(violations);
    let message = match invalid.violations.as_slice() {
        [only] => only.description.clone(),
        many => format!("{} fields are invalid; see BadRequest", many.len()),
    };
    let mut metadata = HashMap::new();
    if local_code.assumed() {
        metadata.insert("upstreamCodeAssumed".to_owned(), "true".to_owned());
    }
    Mapped {
        message,
        upstream_code: upstream_code.map(|code| code.to_string()),
        metadata,
        details,
        ..Mapped::new(
            InvalidArgument,
            Reason::of_local_rule(reason),
            Origin::Facade,
        )
    }
}

fn local_rule(rule: Rule) -> (&'static str, Api, LocalCode) {
    LOCAL_RULES
        .iter()
        .find(|(r, ..)| *r == rule)
        .map(|(_, reason, api, code)| (*reason, *api, *code))
        .unwrap_or((reason!("INVALID_REQUEST").as_str(), IdCloud, Uncoded))
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
///
/// The caller's metadata refused here carries the reason of the vendor's
/// answer to the same condition (a missing token is `ACCESS_TOKEN_MISSING`
/// whether the facade or the vendor noticed; one that cannot travel as a
/// header is the vendor's "invalid"), so a client never cares who refused.
pub(super) fn credentials(error: &CredentialsError) -> Mapped {
    let refused = |code, reason, message: String| Mapped {
        message,
        ..Mapped::new(code, reason, Origin::Facade)
    };
    let is_api_key = |key: &str| key == API_KEY_KEY;
    match error {
        CredentialsError::Missing { key } => Mapped {
            metadata: HashMap::from([("metadataKey".to_owned(), (*key).to_owned())]),
            ..refused(
                Unauthenticated,
                if is_api_key(key) {
                    reason!("API_KEY_MISSING")
                } else {
                    reason!("ACCESS_TOKEN_MISSING")
                },
                format!("missing `{key}` metadata: the vendor credential to forward"),
            )
        },
        CredentialsError::Malformed { key } => Mapped {
            metadata: HashMap::from([("metadataKey".to_owned(), (*key).to_owned())]),
            ..refused(
                Unauthenticated,
                if is_api_key(key) {
                    reason!("API_KEY_INVALID")
                } else {
                    reason!("ACCESS_TOKEN_INVALID")
                },
                format!("`{key}` metadata cannot be sent as an HTTP header"),
            )
        },
        // The facade's own credentials: never the caller's fault.
        CredentialsError::Token(TokenWaitError::TimedOut) => refused(
            DeadlineExceeded,
            reason!("UPSTREAM_TOKEN_TIMEOUT"),
            "no access token could be obtained within the call's deadline".to_owned(),
        ),
        CredentialsError::Token(TokenWaitError::Failed(token)) => token_failure(token),
        CredentialsError::UnsendableToken => refused(
            Internal,
            reason!("UPSTREAM_TOKEN_UNUSABLE"),
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
                reason!("UPSTREAM_TOKEN_UNAVAILABLE"),
                "the vendor's token endpoint is unavailable",
            )
        }
        TokenError::Rejected { .. } => (
            Internal,
            reason!("UPSTREAM_CREDENTIALS_REJECTED"),
            "the vendor rejected the facade's service account",
        ),
        TokenError::AssertionNotSigned => (
            Internal,
            reason!("SERVICE_ACCOUNT_KEY_UNUSABLE"),
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
