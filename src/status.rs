//! THE mapping from every failure (local validation, missing credentials, an
//! upstream failure) to a `tonic::Status` with `google.rpc` error details.
//!
//! Read it as tables, top to bottom, against the reference pages in
//! `shared/upstream/`:
//! - [`LOCAL_RULES`]: requests refused by the facade, with the reason and the
//!   code the vendor's own rejection would have carried;
//! - [`VENDOR_ROWS`]: vendor answers, looked up by (code and message), then
//!   code, then (HTTP status and message), then HTTP status; a code that
//!   arrives under an unexpected status is still mapped by its code;
//! - [`transport`]: failures before a vendor answer existed;
//! - a logged, opaque fallback for anything else.
//!
//! Codes follow the meaning of `google.rpc.Code`, not gRPC's HTTP
//! "intermediary" table. Status messages are short English for developers:
//! never an upstream body, a token, or personal data.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, LocalizedMessage, StatusExt};

use crate::{
    credentials::{CredentialsError, Origin, TokenWaitError},
    upstream::{Api, Endpoint, TokenError, UpstreamError, VendorCode, VendorError},
    validation::{InvalidRequest, Rule},
};

/// `ErrorInfo.domain` of every error this service emits.
pub const ERROR_DOMAIN: &str = "unico-facade";
/// The retry hint given for a 429 without `Retry-After`, and for a refused
/// connection (nothing was sent, so a retry is safe).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FacadeError {
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] InvalidRequest),
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),
    /// The request message is over the decoding limit.
    #[error("request over {limit} bytes")]
    RequestTooLarge { limit: usize },
    /// The facade is at its limit of concurrent calls.
    #[error("over {limit} concurrent calls")]
    Overloaded { limit: usize },
    /// The outgoing rate limit would make the call wait past its deadline.
    #[error("the upstream rate limit would delay the call by {wait:?}")]
    UpstreamRateLimited { wait: Duration },
    #[error("{endpoint:?}: {error}")]
    Upstream {
        endpoint: Endpoint,
        /// Whose credentials the call carried.
        origin: Origin,
        context: CallContext,
        #[source]
        error: UpstreamError,
    },
}

/// What a failed upstream call was about, where the mapping depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The resource (e.g. the process id), for ResourceInfo and
    /// PreconditionFailure subjects. Never personal data.
    pub resource_name: Option<String>,
    /// The subject of a PreconditionFailure when it is not the resource
    /// (the biometric process behind a selfie-JWT condition).
    pub precondition_subject: Option<String>,
    /// The call reused a document: a document-structure error then points
    /// at the caller's `document.reuse.document_id`, not at the facade.
    pub reusing_document: bool,
}

/// Which extra detail a row adds to ErrorInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    /// BadRequest with one violation on this field path of the gRPC request.
    Field(&'static str),
    /// PreconditionFailure of this type, the call's resource as subject.
    Precondition(&'static str),
    /// ResourceInfo of this resource type, named by the call's resource.
    Resource(&'static str),
    /// RetryInfo from `Retry-After`, or [`DEFAULT_RETRY_DELAY`].
    Retry,
    /// RetryInfo only when the vendor sent `Retry-After`.
    RetryIfHinted,
}

/// What a vendor answer is matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The vendor code, when the call reused a document.
    CodeWhenReusing(i64),
    /// The vendor code with this exact message (the IDCloud API reuses one
    /// code for several conditions and tells them apart by message only).
    CodeAndMessage(i64, &'static str),
    Code(i64),
    StatusAndMessage(u16, &'static str),
    Status(u16),
}

/// One row of the vendor table.
#[derive(Debug, Clone, Copy)]
pub struct VendorRow {
    /// The API family whose vocabulary this is; `None` for both.
    pub api: Option<Api>,
    pub key: Key,
    pub code: Code,
    pub reason: &'static str,
    pub detail: Detail,
    /// The status message.
    pub summary: &'static str,
    /// The vendor's documented message when it is not English, sent as
    /// LocalizedMessage (`pt-BR`) so that it can be shown to Brazilian users.
    pub pt_br: Option<&'static str>,
}

const fn row(
    api: Option<Api>,
    key: Key,
    code: Code,
    reason: &'static str,
    detail: Detail,
    summary: &'static str,
) -> VendorRow {
    VendorRow {
        api,
        key,
        code,
        reason,
        detail,
        summary,
        pt_br: None,
    }
}

const fn pt(mut r: VendorRow, message: &'static str) -> VendorRow {
    r.pt_br = Some(message);
    r
}

use Api::{Id, IdCloud};
use Code::*;
use Detail::{Field, Precondition, Resource, Retry, RetryIfHinted};
use Key::{
    Code as C, CodeAndMessage as CM, CodeWhenReusing as R, Status as S, StatusAndMessage as SM,
};

const IDC: Option<Api> = Some(IdCloud);
const ID: Option<Api> = Some(Id);
const ANY: Option<Api> = None;
const FILES: &str = "document.new_capture.files";
const NO: Detail = Detail::None;

/// Vendor answers. Set-process-document (IDCloud, `set-process-document.md`)
/// first, then create-document-process (ID API, `create-document-process.md`),
/// then HTTP-status fallbacks shared by both.
#[rustfmt::skip]
pub const VENDOR_ROWS: &[VendorRow] = &[
    // ---- IDCloud client API: code 3 (INVALID_ARGUMENT), told apart by message.
    row(IDC, CM(3, "process id is invalid"), InvalidArgument, "PROCESS_ID_INVALID", Field("process_id"), "the upstream rejected the process id"),
    row(IDC, CM(3, "dui_type is required"), InvalidArgument, "DUI_TYPE_REQUIRED", Field("dui_type"), "dui_type is required"),
    row(IDC, CM(3, "dui_value is required"), InvalidArgument, "DUI_VALUE_REQUIRED", Field("dui_value"), "dui_value is required"),
    row(IDC, CM(3, "dui_value exceeds maximum length"), InvalidArgument, "DUI_VALUE_TOO_LONG", Field("dui_value"), "dui_value exceeds the maximum length"),
    // Code 3 with a message the page does not list: still the caller's input.
    row(IDC, C(3), InvalidArgument, "UPSTREAM_INVALID_ARGUMENT", NO, "the upstream rejected an argument"),
    // ---- IDCloud: code 9 (FAILED_PRECONDITION), the process's state.
    row(IDC, CM(9, "process is not awaiting for document"), FailedPrecondition, "PROCESS_NOT_AWAITING_DOCUMENT", Precondition("PROCESS_STATE"), "the process is not awaiting a document"),
    row(IDC, CM(9, "process expired"), FailedPrecondition, "PROCESS_EXPIRED", Precondition("PROCESS_STATE"), "the process has expired"),
    row(IDC, CM(9, "document already set, cannot be modified"), FailedPrecondition, "DOCUMENT_ALREADY_SET", Precondition("PROCESS_STATE"), "the process already has a document, which cannot be changed"),
    row(IDC, CM(9, "process already finished"), FailedPrecondition, "PROCESS_ALREADY_FINISHED", Precondition("PROCESS_STATE"), "the process is already finished"),
    row(IDC, CM(9, "flow does not allow optional document"), FailedPrecondition, "FLOW_REQUIRES_DOCUMENT", Precondition("PROCESS_FLOW"), "the process's flow requires the document at creation"),
    row(IDC, C(9), FailedPrecondition, "PROCESS_STATE_INVALID", Precondition("PROCESS_STATE"), "the process's state does not allow this operation"),
    // ---- IDCloud: code 5 (NOT_FOUND).
    row(IDC, C(5), NotFound, "PROCESS_NOT_FOUND", Resource("process"), "the process was not found"),
    // ---- IDCloud: the API gateway's plain-text 401s (the caller's token).
    row(IDC, SM(401, "Jwt is expired"), Unauthenticated, "ACCESS_TOKEN_EXPIRED", NO, "the access token has expired"),
    row(IDC, SM(401, "Jwt header is an invalid JSON"), Unauthenticated, "ACCESS_TOKEN_INVALID", NO, "the access token is malformed"),
    row(IDC, SM(401, "Jwt is missing"), Unauthenticated, "ACCESS_TOKEN_MISSING", NO, "the access token is missing"),
    row(IDC, S(404), NotFound, "PROCESS_NOT_FOUND", Resource("process"), "the process was not found"),
    // ---- ID API: the caller's request fields (INVALID_ARGUMENT + BadRequest).
    pt(row(ID, C(20900), InvalidArgument, "IMAGE_INVALID", Field(FILES), "an image is not a valid image"), "O base64 informado não é válido."),
    pt(row(ID, C(20807), InvalidArgument, "IMAGE_RESOLUTION_TOO_LOW", Field(FILES), "an image is under 640 x 480 pixels"), "A imagem precisa estar no padrão HD ou possuir uma resolução superior a 640 x 480."),
    row(ID, C(20509), InvalidArgument, "SUBJECT_NAME_INVALID", Field("subject.name"), "subject.name has invalid characters"),
    row(ID, C(20508), InvalidArgument, "SUBJECT_GENDER_INVALID", Field("subject.gender"), "subject.gender is invalid"),
    pt(row(ID, C(20507), InvalidArgument, "SUBJECT_CODE_INVALID", Field("subject.code"), "subject.code is not a valid identifier of its type"), "O parâmetro subject.code é inválido."),
    pt(row(ID, C(20506), InvalidArgument, "IMAGE_TOO_LARGE", Field(FILES), "an image is larger than the upstream accepts"), "O base64 informado é muito grande. O tamanho máximo suportado é até 800kb."),
    pt(row(ID, C(20505), InvalidArgument, "IMAGE_FORMAT_UNSUPPORTED", Field(FILES), "an image is not PNG, JPEG or WebP"), "O base64 informado não é suportado. Os formatos aceitos são png, jpeg e webp."),
    row(ID, C(20068), InvalidArgument, "DOCUMENT_CAPTURE_MISSING", Field(FILES), "document needs new_capture files or reuse.document_id"),
    row(ID, C(20067), InvalidArgument, "DOCUMENT_PURPOSE_INVALID", Field("document.purpose"), "document.purpose is invalid"),
    row(ID, C(20066), InvalidArgument, "AUTH_PROCESS_ID_INVALID", Field("document.auth_process_id"), "document.auth_process_id is invalid"),
    row(ID, C(20021), InvalidArgument, "SUBJECT_PHONE_INVALID", Field("subject.phone"), "subject.phone is not in E.164 format"),
    row(ID, C(20019), InvalidArgument, "SUBJECT_BIRTH_DATE_INVALID", Field("subject.birth_date"), "subject.birth_date is not a valid YYYY-MM-DD date"),
    pt(row(ID, C(20009), InvalidArgument, "IMAGE_MISSING", Field(FILES), "an image is missing"), "O parâmetro imagebase64 não foi informado."),
    row(ID, C(20008), InvalidArgument, "SUBJECT_EMAIL_INVALID", Field("subject.email"), "subject.email is not a valid address"),
    pt(row(ID, C(20005), InvalidArgument, "SUBJECT_CODE_REQUIRED", Field("subject.code"), "subject.code is required"), "O parâmetro subject.code não foi informado."),
    pt(row(ID, C(20004), InvalidArgument, "SUBJECT_REQUIRED", Field("subject"), "subject is required"), "O parâmetro subject não foi informado."),
    // The selfie JWT behind document.auth_process_id: malformed is the
    // caller's input; expired or used is a state the caller must redo.
    row(ID, C(10506), InvalidArgument, "SELFIE_JWT_INVALID", Field("document.auth_process_id"), "the biometric capture is not a valid SDK JWT"),
    row(ID, C(10507), FailedPrecondition, "SELFIE_JWT_EXPIRED", Precondition("SELFIE_JWT"), "the biometric capture expired; capture again (10 minutes at most)"),
    row(ID, C(10508), FailedPrecondition, "SELFIE_JWT_ALREADY_USED", Precondition("SELFIE_JWT"), "the biometric capture was already used; capture again"),
    // ---- ID API: on a reuse, the only caller input in `document` is the
    // document id, so a structure error is about it (an unknown document, or
    // another subject's).
    row(ID, R(99989), InvalidArgument, "DOCUMENT_ID_INVALID", Field("document.reuse.document_id"), "document.reuse.document_id is not a reusable document of this subject"),
    row(ID, R(20068), InvalidArgument, "DOCUMENT_CAPTURE_MISSING", Field("document.reuse.document_id"), "document needs new_capture files or reuse.document_id"),
    // ---- ID API: codes only a malformed facade request can produce (the
    // facade always sends a body with a document and never sends useCase):
    // the caller is not at fault.
    row(ID, C(99989), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    row(ID, C(99988), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    row(ID, C(20062), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    row(ID, C(20003), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    // ---- ID API: the caller's credentials.
    pt(row(ID, C(20002), Unauthenticated, "API_KEY_MISSING", NO, "the API key is missing"), "O parâmetro APIKey não foi informado."),
    pt(row(ID, C(20001), Unauthenticated, "ACCESS_TOKEN_MISSING", NO, "the access token is missing"), "O parâmetro authtoken não foi informado."),
    pt(row(ID, C(10502), Unauthenticated, "ACCESS_TOKEN_EXPIRED", NO, "the access token has expired"), "O token informado está expirado."),
    pt(row(ID, C(10501), Unauthenticated, "ACCESS_TOKEN_INVALID", NO, "the access token is invalid"), "O token informado é inválido."),
    pt(row(ID, C(10201), Unauthenticated, "API_KEY_INVALID", NO, "the API key is invalid or unknown"), "O AppKey informado é inválido."),
    row(ID, C(30017), PermissionDenied, "ACTION_NOT_PERMITTED", NO, "the credentials do not allow this action"),
    // ---- ID API: conflicts and failures.
    row(ID, C(20073), AlreadyExists, "PROCESS_ALREADY_EXISTS", Resource("process"), "the process already exists in this tenant"),
    // ---- Both families.
    row(ANY, C(99999), Internal, "UPSTREAM_INTERNAL_ERROR", NO, "the upstream failed internally"),
    // ---- By HTTP status, when no code above matched.
    row(ANY, S(400), InvalidArgument, "UPSTREAM_INVALID_ARGUMENT", NO, "the upstream rejected the request as invalid"),
    row(ANY, S(401), Unauthenticated, "ACCESS_TOKEN_REJECTED", NO, "the upstream rejected the access token"),
    row(ANY, S(403), PermissionDenied, "UPSTREAM_PERMISSION_DENIED", NO, "the upstream denied the request"),
    row(ANY, S(404), NotFound, "UPSTREAM_NOT_FOUND", NO, "the upstream found no such resource"),
    row(ANY, S(409), AlreadyExists, "UPSTREAM_CONFLICT", NO, "the upstream reports a conflict"),
    row(ANY, S(410), NotFound, "UPSTREAM_GONE", NO, "the resource no longer exists upstream"),
    row(ANY, S(429), ResourceExhausted, "UPSTREAM_RATE_LIMITED", Retry, "the upstream rate limit was reached; retry later"),
    row(ANY, S(500), Internal, "UPSTREAM_INTERNAL_ERROR", NO, "the upstream failed internally"),
    row(ANY, S(502), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
    row(ANY, S(503), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
    row(ANY, S(504), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
];

/// Local validation: each rule's reason, and the vendor code (of the API
/// family named) that the vendor's own rejection of the same input carries.
/// Where the reference pages document no code for a condition the facade
/// checks, the closest documented one is used (marked "assumed").
#[rustfmt::skip]
pub const LOCAL_RULES: &[(Rule, &str, Api, i64)] = &[
    // SetProcessDocument: the IDCloud API answers 3 for every field problem.
    (Rule::ProcessIdMissing, "PROCESS_ID_INVALID", IdCloud, 3),
    (Rule::ProcessIdMalformed, "PROCESS_ID_INVALID", IdCloud, 3),
    (Rule::ProcessIdTooLong, "PROCESS_ID_TOO_LONG", IdCloud, 3),
    (Rule::DuiTypeMissing, "DUI_TYPE_REQUIRED", IdCloud, 3),
    (Rule::DuiTypeUnknown, "DUI_TYPE_INVALID", IdCloud, 3),
    (Rule::DuiTypeNotAccepted, "DUI_TYPE_NOT_ACCEPTED", IdCloud, 3),
    (Rule::DuiValueMissing, "DUI_VALUE_REQUIRED", IdCloud, 3),
    (Rule::DuiValueTooLong, "DUI_VALUE_TOO_LONG", IdCloud, 3),
    (Rule::DuiValueFormatted, "DUI_VALUE_FORMATTED", IdCloud, 3),
    // CreateDocumentProcess: the ID API's five-digit codes.
    (Rule::SubjectMissing, "SUBJECT_REQUIRED", Id, 20004),
    (Rule::SubjectDuiTypeMissing, "SUBJECT_DUI_TYPE_INVALID", Id, 20507), // assumed
    (Rule::SubjectCodeMissing, "SUBJECT_CODE_REQUIRED", Id, 20005),
    (Rule::SubjectCodeInvalid, "SUBJECT_CODE_INVALID", Id, 20507),
    (Rule::SubjectNameInvalid, "SUBJECT_NAME_INVALID", Id, 20509),
    (Rule::SubjectGenderInvalid, "SUBJECT_GENDER_INVALID", Id, 20508),
    (Rule::SubjectBirthDateInvalid, "SUBJECT_BIRTH_DATE_INVALID", Id, 20019),
    (Rule::SubjectEmailInvalid, "SUBJECT_EMAIL_INVALID", Id, 20008),
    (Rule::SubjectPhoneInvalid, "SUBJECT_PHONE_INVALID", Id, 20021),
    (Rule::DocumentMissing, "DOCUMENT_REQUIRED", Id, 99988),
    (Rule::PurposeInvalid, "DOCUMENT_PURPOSE_INVALID", Id, 20067),
    (Rule::AuthProcessIdInvalid, "AUTH_PROCESS_ID_INVALID", Id, 20066),
    (Rule::CaptureMissing, "DOCUMENT_CAPTURE_MISSING", Id, 20068),
    (Rule::TooManyFiles, "TOO_MANY_FILES", Id, 99989), // assumed
    (Rule::ImageMissing, "IMAGE_MISSING", Id, 20009),
    (Rule::ImageTooLarge, "IMAGE_TOO_LARGE", Id, 20506),
    (Rule::ImageFormatUnsupported, "IMAGE_FORMAT_UNSUPPORTED", Id, 20505),
    (Rule::ImageUndecodable, "IMAGE_INVALID", Id, 20900),
    (Rule::ImageResolutionTooLow, "IMAGE_RESOLUTION_TOO_LOW", Id, 20807),
];

/// The outcome of the mapping, before it becomes a `Status`.
#[derive(Debug, Clone)]
struct Mapped {
    code: Code,
    message: String,
    reason: &'static str,
    metadata: HashMap<String, String>,
    details: ErrorDetails,
}

impl From<FacadeError> for Status {
    fn from(error: FacadeError) -> Self {
        to_status(&error, None).0
    }
}

/// What the caller's status says, for the call's log line and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub code: Code,
    pub reason: &'static str,
    /// Refused by the facade itself, no upstream call.
    pub local: bool,
    pub upstream_http_status: Option<String>,
    pub upstream_code: Option<String>,
}

/// The status for a failure; with a request id, a RequestInfo detail too.
pub fn to_status(error: &FacadeError, request_id: Option<&str>) -> (Status, Summary) {
    {
        let mapped = match error {
            FacadeError::InvalidRequest(invalid) => local(invalid),
            FacadeError::Credentials(error) => credentials(error),
            FacadeError::RequestTooLarge { limit } => facade_limit(
                "REQUEST_TOO_LARGE",
                format!("the request is larger than the {limit}-byte limit"),
                ("limitBytes", *limit),
                None,
            ),
            // Fast rejection: better a retry elsewhere than a queue here.
            FacadeError::Overloaded { limit } => facade_limit(
                "OVERLOADED",
                format!("the facade is at its limit of {limit} concurrent calls; retry shortly"),
                ("limit", *limit),
                Some(DEFAULT_RETRY_DELAY),
            ),
            // The vendor allows a few requests per second per tenant: the
            // facade queues within each call's deadline, and refuses beyond.
            FacadeError::UpstreamRateLimited { wait } => facade_limit(
                "UPSTREAM_RATE_LIMIT_QUEUE_FULL",
                "the outgoing rate limit cannot fit this call within its deadline".to_owned(),
                ("waitMillis", wait.as_millis() as usize),
                Some(*wait),
            ),
            FacadeError::Upstream {
                endpoint,
                context,
                origin,
                error,
            } => upstream(*endpoint, *origin, context, error),
        };
        let Mapped {
            code,
            message,
            reason,
            metadata,
            mut details,
        } = mapped;
        let summary = Summary {
            code,
            reason,
            local: metadata.get("origin").is_some_and(|o| o == "facade"),
            upstream_http_status: metadata.get("upstreamHttpStatus").cloned(),
            upstream_code: metadata.get("upstreamCode").cloned(),
        };
        if let Some(id) = request_id {
            details.set_request_info(id, "");
        }
        details.set_error_info(reason, ERROR_DOMAIN, metadata);
        (Status::with_error_details(code, message, details), summary)
    }
}

/// RESOURCE_EXHAUSTED for a limit of the facade's own.
fn facade_limit(
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
        code: ResourceExhausted,
        message,
        reason,
        metadata: HashMap::from([
            ("origin".to_owned(), "facade".to_owned()),
            (key.to_owned(), value.to_string()),
        ]),
        details,
    }
}

fn local(invalid: &InvalidRequest) -> Mapped {
    let mut details = ErrorDetails::new();
    let rows: Vec<(&'static str, Api, i64)> = invalid
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
            .unwrap_or(("INVALID_REQUEST", IdCloud, 3));
    if let Some(message) = pt_br_message(api, upstream_code, reason) {
        details.set_localized_message("pt-BR", message);
    }
    details.set_bad_request(violations);
    let message = match invalid.violations.as_slice() {
        [only] => only.description.clone(),
        many => format!("{} fields are invalid; see BadRequest", many.len()),
    };
    Mapped {
        code: InvalidArgument,
        message,
        reason,
        metadata: HashMap::from([
            ("origin".to_owned(), "facade".to_owned()),
            ("upstreamCode".to_owned(), upstream_code.to_string()),
        ]),
        details,
    }
}

fn local_rule(rule: Rule) -> (&'static str, Api, i64) {
    LOCAL_RULES
        .iter()
        .find(|(r, ..)| *r == rule)
        .map(|(_, reason, api, code)| (*reason, *api, *code))
        .unwrap_or(("INVALID_REQUEST", IdCloud, 3))
}

/// The vendor's documented Portuguese message for the same condition, if it
/// has one (only where the local reason is the vendor row's: a message about
/// another field would mislead).
fn pt_br_message(api: Api, code: i64, reason: &str) -> Option<&'static str> {
    VENDOR_ROWS
        .iter()
        .find(|r| r.api == Some(api) && r.key == Key::Code(code) && r.reason == reason)
        .and_then(|r| r.pt_br)
}

fn credentials(error: &CredentialsError) -> Mapped {
    let mut metadata = HashMap::from([("origin".to_owned(), "facade".to_owned())]);
    let mut details = ErrorDetails::new();
    let (code, reason, message) = match error {
        CredentialsError::Missing { key } => {
            metadata.insert("metadataKey".to_owned(), (*key).to_owned());
            (
                Unauthenticated,
                "CREDENTIALS_MISSING",
                format!("missing `{key}` metadata: the vendor credential to forward"),
            )
        }
        CredentialsError::Malformed { key } => {
            metadata.insert("metadataKey".to_owned(), (*key).to_owned());
            (
                Unauthenticated,
                "CREDENTIALS_MALFORMED",
                format!("`{key}` metadata cannot be sent as an HTTP header"),
            )
        }
        // The facade's own credentials: never the caller's fault.
        CredentialsError::Token(TokenWaitError::TimedOut) => (
            DeadlineExceeded,
            "UPSTREAM_TOKEN_TIMEOUT",
            "no access token could be obtained within the call's deadline".to_owned(),
        ),
        CredentialsError::Token(TokenWaitError::Failed(token)) => {
            if let Some(code) = token.code() {
                metadata.insert("tokenErrorCode".to_owned(), code.to_string());
            }
            if let Some(status) = token.http_status().filter(|s| *s > 0) {
                metadata.insert("upstreamHttpStatus".to_owned(), status.to_string());
            }
            match token {
                TokenError::Transient { .. } => {
                    details.set_retry_info(Some(DEFAULT_RETRY_DELAY));
                    (
                        Unavailable,
                        "UPSTREAM_TOKEN_UNAVAILABLE",
                        "the vendor's token endpoint is unavailable".to_owned(),
                    )
                }
                TokenError::Rejected { .. } => (
                    Internal,
                    "UPSTREAM_CREDENTIALS_REJECTED",
                    "the vendor rejected the facade's service account".to_owned(),
                ),
            }
        }
    };
    Mapped {
        code,
        message,
        reason,
        metadata,
        details,
    }
}

/// Reasons that mean "these credentials were refused". With the caller's own
/// credentials they stay UNAUTHENTICATED / PERMISSION_DENIED; with the
/// facade's, the caller is not at fault: INTERNAL `UPSTREAM_CREDENTIALS_REJECTED`.
const CREDENTIAL_REASONS: &[&str] = &[
    "ACCESS_TOKEN_EXPIRED",
    "ACCESS_TOKEN_INVALID",
    "ACCESS_TOKEN_MISSING",
    "ACCESS_TOKEN_REJECTED",
    "API_KEY_MISSING",
    "API_KEY_INVALID",
    "ACTION_NOT_PERMITTED",
];

/// Whether a text is one of the vendor's documented messages (safe to log).
fn is_documented_message(text: &str) -> bool {
    VENDOR_ROWS.iter().any(|r| {
        r.pt_br == Some(text)
            || matches!(r.key, Key::CodeAndMessage(_, m) | Key::StatusAndMessage(_, m) if m == text)
    })
}

/// Whether a vendor code has a row of its own (a bounded metric label).
pub fn is_documented_code(code: &VendorCode) -> bool {
    let number = code.as_number();
    VENDOR_ROWS.iter().any(|r| match r.key {
        Key::Code(c) | Key::CodeAndMessage(c, _) | Key::CodeWhenReusing(c) => Some(c) == number,
        _ => false,
    })
}

/// Whether an upstream answer rejects the access token itself, before the
/// upstream acted: 401 on the IDCloud API, 403 with 10501/10502 on the ID API.
pub fn rejects_access_token(api: Api, error: &UpstreamError) -> bool {
    let Some(vendor) = error.vendor() else {
        return false;
    };
    match api {
        Api::IdCloud => vendor.http_status == 401,
        Api::Id => matches!(
            vendor.code.as_ref().and_then(VendorCode::as_number),
            Some(10501 | 10502)
        ),
    }
}

fn upstream(
    endpoint: Endpoint,
    origin: Origin,
    context: &CallContext,
    error: &UpstreamError,
) -> Mapped {
    match error {
        UpstreamError::Vendor(vendor) => {
            let mut mapped = vendor_answer(endpoint, context, vendor);
            if origin == Origin::Facade && CREDENTIAL_REASONS.contains(&mapped.reason) {
                tracing::error!(
                    route = endpoint.route(),
                    upstream_reason = mapped.reason,
                    http_status = vendor.http_status,
                    vendor_code = vendor.code.as_ref().map(ToString::to_string),
                    "the vendor rejected the facade's own credentials: check the API key and the service account"
                );
                mapped.code = Internal;
                mapped.reason = "UPSTREAM_CREDENTIALS_REJECTED";
                mapped.message = "the vendor rejected the facade's own credentials".to_owned();
                mapped.details = ErrorDetails::new();
            }
            mapped
        }
        other => transport(endpoint, other),
    }
}

/// Failures before any vendor answer existed.
fn transport(endpoint: Endpoint, error: &UpstreamError) -> Mapped {
    let mut details = ErrorDetails::new();
    let (code, reason, message) = match error {
        // Nothing was sent, so retrying is safe even for a create.
        UpstreamError::Connect { .. } => {
            details.set_retry_info(Some(DEFAULT_RETRY_DELAY));
            (
                Unavailable,
                "UPSTREAM_UNREACHABLE",
                "could not connect to the upstream",
            )
        }
        // The request may have been processed: no retry hint.
        UpstreamError::ConnectionLost { .. } => (
            Unavailable,
            "UPSTREAM_CONNECTION_LOST",
            "the connection to the upstream was lost before a complete answer",
        ),
        UpstreamError::Timeout { .. } => (
            DeadlineExceeded,
            "UPSTREAM_TIMEOUT",
            "the upstream did not answer in time",
        ),
        UpstreamError::UnparseableResponse { .. } => (
            Internal,
            "UPSTREAM_RESPONSE_UNPARSEABLE",
            "the upstream's answer could not be understood",
        ),
        UpstreamError::BuildRequest { .. } | UpstreamError::Vendor(_) => (
            Internal,
            "UPSTREAM_REQUEST_NOT_BUILT",
            "the facade could not build the upstream request",
        ),
    };
    if code == Internal {
        tracing::error!(route = endpoint.route(), reason, error = %error, "upstream call failed on the facade's side");
    } else {
        tracing::warn!(route = endpoint.route(), reason, error = %error, "upstream call failed");
    }
    let mut metadata = HashMap::from([("origin".to_owned(), "upstream".to_owned())]);
    if let UpstreamError::UnparseableResponse { http_status, .. } = error {
        metadata.insert("upstreamHttpStatus".to_owned(), http_status.to_string());
    }
    Mapped {
        code,
        message: message.to_owned(),
        reason,
        metadata,
        details,
    }
}

/// Finds the row for a vendor answer, in the documented precedence.
pub fn find_row(api: Api, vendor: &VendorError, reusing: bool) -> Option<&'static VendorRow> {
    let number = vendor.code.as_ref().and_then(VendorCode::as_number);
    let message = vendor.message.as_deref().map(str::trim);
    let in_family = |r: &&VendorRow| r.api.is_none_or(|a| a == api);
    let rows = || VENDOR_ROWS.iter().filter(in_family);
    rows()
        .find(|r| reusing && matches!(r.key, Key::CodeWhenReusing(c) if Some(c) == number))
        .or_else(|| {
            rows().find(|r| {
                matches!(r.key, Key::CodeAndMessage(c, m) if Some(c) == number && Some(m) == message)
            })
        })
        .or_else(|| rows().find(|r| matches!(r.key, Key::Code(c) if Some(c) == number)))
        .or_else(|| {
            rows().find(|r| {
                matches!(r.key, Key::StatusAndMessage(s, m) if s == vendor.http_status && Some(m) == message)
            })
        })
        .or_else(|| rows().find(|r| matches!(r.key, Key::Status(s) if s == vendor.http_status)))
}

fn vendor_answer(endpoint: Endpoint, context: &CallContext, vendor: &VendorError) -> Mapped {
    // Only at debug, only masked: the body is the vendor's text, which may
    // echo what the caller sent.
    tracing::debug!(
        route = endpoint.route(),
        http_status = vendor.http_status,
        body = %crate::telemetry::redact::body_shape(&vendor.body_excerpt, is_documented_message),
        "upstream error body (shape only)"
    );
    let mut metadata = HashMap::from([
        ("origin".to_owned(), "upstream".to_owned()),
        (
            "upstreamHttpStatus".to_owned(),
            vendor.http_status.to_string(),
        ),
    ]);
    if let Some(code) = &vendor.code {
        metadata.insert("upstreamCode".to_owned(), code.to_string());
    }
    let Some(row) = find_row(endpoint.api(), vendor, context.reusing_document) else {
        // The opaque fallback: say what is known, log enough to add a row.
        tracing::warn!(
            route = endpoint.route(),
            http_status = vendor.http_status,
            vendor_code = vendor.code.as_ref().map(ToString::to_string),
            "unmapped upstream answer"
        );
        return Mapped {
            code: Unknown,
            message: format!(
                "the upstream answered HTTP {} unexpectedly",
                vendor.http_status
            ),
            reason: "UPSTREAM_UNEXPECTED_ANSWER",
            metadata,
            details: ErrorDetails::new(),
        };
    };
    if row.code == Internal {
        tracing::error!(
            route = endpoint.route(),
            reason = row.reason,
            http_status = vendor.http_status,
            vendor_code = vendor.code.as_ref().map(ToString::to_string),
            "upstream reports an internal failure or rejected the facade's own request"
        );
    }
    let mut details = ErrorDetails::new();
    let resource = context.resource_name.as_deref().unwrap_or_default();
    let subject = context.precondition_subject.as_deref().unwrap_or(resource);
    match row.detail {
        Detail::None => {}
        Detail::Field(path) => {
            let mut violation = FieldViolation::new(path, row.summary);
            violation.reason = row.reason.to_owned();
            details.set_bad_request(vec![violation]);
        }
        Detail::Precondition(kind) => {
            details.add_precondition_failure_violation(kind, subject, row.summary);
        }
        Detail::Resource(kind) => {
            details.set_resource_info(kind, resource, "", row.summary);
        }
        Detail::Retry => {
            details.set_retry_info(Some(vendor.retry_after.unwrap_or(DEFAULT_RETRY_DELAY)));
        }
        Detail::RetryIfHinted => {
            if let Some(delay) = vendor.retry_after {
                details.set_retry_info(Some(delay));
            }
        }
    }
    if let Some(message) = row.pt_br {
        details.set_localized_message("pt-BR", message);
    }
    Mapped {
        code: row.code,
        message: row.summary.to_owned(),
        reason: row.reason,
        metadata,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendor(status: u16, code: Option<i64>, message: Option<&str>) -> VendorError {
        VendorError {
            http_status: status,
            code: code.map(VendorCode::Number),
            message: message.map(str::to_owned),
            retry_after: None,
            body_excerpt: String::new(),
        }
    }

    #[test]
    fn every_local_rule_has_exactly_one_row() {
        for rule in Rule::ALL {
            let rows = LOCAL_RULES.iter().filter(|(r, ..)| *r == rule).count();
            assert_eq!(rows, 1, "{rule:?}");
        }
    }

    #[test]
    fn local_reasons_match_the_upstream_rows_for_the_same_code() {
        // A client branching on a reason must not care who refused the input.
        // (IDCloud reasons are told apart by message, not by the shared code 3.)
        for (rule, reason, api, code) in LOCAL_RULES.iter().filter(|(_, _, api, _)| *api == Id) {
            let Some(row) = VENDOR_ROWS
                .iter()
                .find(|r| r.api == Some(*api) && r.key == Key::Code(*code))
            else {
                continue;
            };
            let same = row.reason == *reason
                || matches!(
                    rule,
                    Rule::SubjectDuiTypeMissing | Rule::DocumentMissing | Rule::TooManyFiles
                );
            assert!(same, "{rule:?}: {reason} vs {}", row.reason);
        }
    }

    #[test]
    fn reasons_are_upper_snake_and_summaries_are_short() {
        for r in VENDOR_ROWS {
            assert!(
                r.reason
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{}",
                r.reason
            );
            assert!(r.summary.len() < 100, "{}", r.summary);
        }
    }

    #[test]
    fn a_code_is_mapped_by_its_code_whatever_the_status() {
        let row = find_row(Api::Id, &vendor(500, Some(20507), None), false).unwrap();
        assert_eq!(row.reason, "SUBJECT_CODE_INVALID");
        let row = find_row(
            Api::IdCloud,
            &vendor(200, Some(9), Some("process expired")),
            false,
        )
        .unwrap();
        assert_eq!(row.reason, "PROCESS_EXPIRED");
    }

    #[test]
    fn a_structure_error_on_a_reuse_is_the_callers_document_id() {
        let answer = vendor(400, Some(99989), Some("The document is invalid."));
        assert_eq!(
            find_row(Api::Id, &answer, true).unwrap().reason,
            "DOCUMENT_ID_INVALID"
        );
        assert_eq!(
            find_row(Api::Id, &answer, false).unwrap().reason,
            "UPSTREAM_REJECTED_FACADE_REQUEST"
        );
    }

    #[test]
    fn the_family_decides_the_vocabulary() {
        // 3 means INVALID_ARGUMENT on IDCloud only; on the ID API it is unknown.
        let row = find_row(
            Api::Id,
            &vendor(400, Some(3), Some("process expired")),
            false,
        )
        .unwrap();
        assert_eq!(row.reason, "UPSTREAM_INVALID_ARGUMENT");
        assert_eq!(row.key, Key::Status(400));
        assert!(
            find_row(Api::IdCloud, &vendor(400, Some(20507), None), false)
                .unwrap()
                .key
                == Key::Status(400)
        );
    }

    #[test]
    fn unknown_code_falls_back_on_the_status_and_unknown_status_on_unknown() {
        let row = find_row(Api::IdCloud, &vendor(503, Some(77), None), false).unwrap();
        assert_eq!(row.code, Unavailable);
        assert!(find_row(Api::IdCloud, &vendor(418, None, None), false).is_none());
        let status: Status = FacadeError::Upstream {
            endpoint: Endpoint::SetProcessDocument,
            origin: Origin::Caller,
            context: CallContext::default(),
            error: UpstreamError::Vendor(vendor(418, Some(12345), None)),
        }
        .into();
        assert_eq!(status.code(), Unknown);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata["upstreamCode"], "12345");
        assert_eq!(info.metadata["upstreamHttpStatus"], "418");
    }

    #[test]
    fn no_two_rows_share_a_key_within_a_family() {
        for (i, a) in VENDOR_ROWS.iter().enumerate() {
            for b in &VENDOR_ROWS[i + 1..] {
                let overlap = a.api.is_none() || b.api.is_none() || a.api == b.api;
                let same_scope = a.api == b.api;
                assert!(
                    !(overlap && same_scope && a.key == b.key),
                    "{:?} twice",
                    a.key
                );
            }
        }
    }
}
