//! The vendor table: every documented answer of both API families, as
//! rows, in the order the reference pages list them (`shared/upstream/`),
//! and the lookup that picks the row for an answer.

use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation};

use super::{CallContext, DEFAULT_RETRY_DELAY, Mapped, Origin, Reason, reason};
use crate::upstream::{Api, Endpoint, UpstreamError, VendorCode, VendorError};

/// Which extra detail a row adds to ErrorInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    /// BadRequest with one violation on this field path of the gRPC request.
    Field(&'static str),
    /// PreconditionFailure of this type, the call's resource as subject.
    Precondition(&'static str),
    /// PreconditionFailure of this type about this fixed subject (a setting
    /// of the credentials, not the call's resource).
    PreconditionOn(&'static str, &'static str),
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
    /// The vendor code with a message that starts with this text (the
    /// vendor appends a varying tail: a parser's error, a second rule).
    CodeAndPrefix(i64, &'static str),
    Code(i64),
    StatusAndMessage(u16, &'static str),
    /// The HTTP status, when the call names a resource (a read by id): a
    /// 404 there is that resource missing, elsewhere a wrong route.
    StatusOnResource(u16),
    Status(u16),
}

/// What a row says about the credentials the call carried. The override
/// for the facade's own credentials and the refresh-and-retry decision are
/// both read from this column of the row the lookup picked, so they cannot
/// disagree with the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Nothing about the credentials.
    None,
    /// The access token was refused (missing, malformed, expired or
    /// unknown) before the vendor acted on the request: with the facade's
    /// own token, it is refreshed and the call retried once.
    AccessToken,
    /// The API key was refused (missing or unknown).
    ApiKey,
    /// Valid credentials without the permission for this action.
    Permission,
    /// The tenant behind the credentials is not configured for the call
    /// (IDCloud's `XX ID Apikeys are not set`): never the caller's input.
    TenantConfiguration,
}

/// One row of the vendor table.
#[derive(Debug, Clone, Copy)]
pub struct VendorRow {
    /// The API family whose vocabulary this is; `None` for both.
    pub api: Option<Api>,
    pub key: Key,
    pub code: Code,
    pub reason: Reason,
    pub detail: Detail,
    /// What the answer says about the credentials.
    pub credential: Credential,
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
        // In the const table: a name the contract's enum lacks fails the build.
        reason: Reason::known(reason),
        detail,
        credential: Credential::None,
        summary,
        pt_br: None,
    }
}

const fn pt(mut r: VendorRow, message: &'static str) -> VendorRow {
    r.pt_br = Some(message);
    r
}

/// Marks a row as a refusal of the credentials.
const fn cred(mut r: VendorRow, credential: Credential) -> VendorRow {
    r.credential = credential;
    r
}

use Api::{Id, IdCloud};
use Code::*;
use Credential::{
    AccessToken as TOKEN, ApiKey as KEY, Permission as PERM, TenantConfiguration as TENANT,
};
use Detail::{Field, Precondition, PreconditionOn, Resource, Retry, RetryIfHinted};
use Key::{
    Code as C, CodeAndMessage as CM, CodeAndPrefix as CP, CodeWhenReusing as R, Status as S,
    StatusAndMessage as SM, StatusOnResource as SR,
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
    // Create-process (`idcloud-process.md`): the request's fields.
    row(IDC, CM(3, "invalid flow"), InvalidArgument, "FLOW_INVALID", Field("flow"), "the upstream does not know this flow"),
    row(IDC, CM(3, "invalid purpose"), InvalidArgument, "PURPOSE_INVALID", Field("purpose"), "the upstream does not accept this purpose"),
    row(IDC, CM(3, "invalid person: friendly name exceeds 50 characters."), InvalidArgument, "PERSON_FRIENDLY_NAME_TOO_LONG", Field("person.friendly_name"), "person.friendly_name exceeds 50 characters"),
    row(IDC, CP(3, "invalid callbackUri:"), InvalidArgument, "CALLBACK_URI_INVALID", Field("callback_uri"), "callback_uri is not a URL, an app scheme or `/`"),
    row(IDC, CP(3, "invalid person: email required for notification channel"), InvalidArgument, "PERSON_EMAIL_REQUIRED", Field("person.email"), "person.email is required by the e-mail notification channel"),
    row(IDC, CP(3, "invalid person: phone number required for notification channel"), InvalidArgument, "PERSON_PHONE_INVALID", Field("person.phone"), "person.phone (13 digits) is required by the notification channel"),
    row(IDC, CM(3, "idnsv2/GetPublicID request error: rpc error: code = InvalidArgument desc = invalid dui value"), InvalidArgument, "PERSON_DUI_VALUE_INVALID", Field("person.dui_value"), "person.dui_value is not a valid identifier of its type"),
    // Code 3 with a message the page does not list: still the caller's input.
    row(IDC, C(3), InvalidArgument, "UPSTREAM_INVALID_ARGUMENT", NO, "the upstream rejected an argument"),
    // ---- IDCloud: code 9 (FAILED_PRECONDITION), the process's state.
    row(IDC, CM(9, "process is not awaiting for document"), FailedPrecondition, "PROCESS_NOT_AWAITING_DOCUMENT", Precondition("PROCESS_STATE"), "the process is not awaiting a document"),
    row(IDC, CM(9, "process expired"), FailedPrecondition, "PROCESS_EXPIRED", Precondition("PROCESS_STATE"), "the process has expired"),
    row(IDC, CM(9, "document already set, cannot be modified"), FailedPrecondition, "DOCUMENT_ALREADY_SET", Precondition("PROCESS_STATE"), "the process already has a document, which cannot be changed"),
    row(IDC, CM(9, "process already finished"), FailedPrecondition, "PROCESS_ALREADY_FINISHED", Precondition("PROCESS_STATE"), "the process is already finished"),
    row(IDC, CM(9, "flow does not allow optional document"), FailedPrecondition, "FLOW_REQUIRES_DOCUMENT", Precondition("PROCESS_FLOW"), "the process's flow requires the document at creation"),
    // Create-process: the tenant's configuration, not the caller's input.
    cred(row(IDC, CM(9, "XX ID Apikeys are not set"), FailedPrecondition, "TENANT_API_KEYS_NOT_SET", Precondition("TENANT_CONFIGURATION"), "the tenant's API keys are not set up at the vendor"), TENANT),
    row(IDC, C(9), FailedPrecondition, "PROCESS_STATE_INVALID", Precondition("PROCESS_STATE"), "the process's state does not allow this operation"),
    // ---- IDCloud: code 5 (NOT_FOUND).
    row(IDC, C(5), NotFound, "PROCESS_NOT_FOUND", Resource("process"), "the process was not found"),
    // ---- IDCloud: code 7, the service account lacks the permission.
    cred(row(IDC, CM(7, "no permission"), PermissionDenied, "ACTION_NOT_PERMITTED", NO, "the credentials do not allow this action"), PERM),
    cred(row(IDC, C(7), PermissionDenied, "ACTION_NOT_PERMITTED", NO, "the credentials do not allow this action"), PERM),
    // ---- IDCloud: the API gateway's plain-text 401s (the caller's token).
    cred(row(IDC, SM(401, "Jwt is expired"), Unauthenticated, "ACCESS_TOKEN_EXPIRED", NO, "the access token has expired"), TOKEN),
    cred(row(IDC, SM(401, "Jwt header is an invalid JSON"), Unauthenticated, "ACCESS_TOKEN_INVALID", NO, "the access token is malformed"), TOKEN),
    cred(row(IDC, SM(401, "Jwt is missing"), Unauthenticated, "ACCESS_TOKEN_MISSING", NO, "the access token is missing"), TOKEN),
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
    // The selfie JWT behind document.auth_process_id: the facade sends only
    // the id, the vendor reads the capture it names. Not an SDK capture,
    // expired or used are all states of that biometric process, which the
    // caller must capture again (AIP-193: the party who can fix it): so
    // FAILED_PRECONDITION, its subject the auth process id.
    row(ID, C(10506), FailedPrecondition, "SELFIE_JWT_INVALID", Precondition("SELFIE_JWT"), "the biometric capture is not a valid capture of the vendor's SDK; capture again"),
    row(ID, C(10507), FailedPrecondition, "SELFIE_JWT_EXPIRED", Precondition("SELFIE_JWT"), "the biometric capture expired; capture again (10 minutes at most)"),
    row(ID, C(10508), FailedPrecondition, "SELFIE_JWT_ALREADY_USED", Precondition("SELFIE_JWT"), "the biometric capture was already used; capture again"),
    // ---- ID API: on a reuse, the only caller input in `document` is the
    // document id, so a structure error is about it (an unknown document, or
    // another subject's).
    row(ID, R(99989), InvalidArgument, "DOCUMENT_ID_INVALID", Field("document.reuse.document_id"), "document.reuse.document_id is not a reusable document of this subject"),
    row(ID, R(20068), InvalidArgument, "DOCUMENT_CAPTURE_MISSING", Field("document.reuse.document_id"), "document needs new_capture files or reuse.document_id"),
    // On a new capture, the facade builds the document's structure from the
    // caller's files (one or two, front and/or back): what the vendor can
    // find wrong with it is the caller's files, as the local "more than two
    // files" rule says (its TOO_MANY_FILES assumes this code).
    row(ID, C(99989), InvalidArgument, "DOCUMENT_INVALID", Field(FILES), "the upstream found the document's structure invalid; send one or two images, front and/or back"),
    // ---- ID API: codes only a malformed facade request can produce (the
    // facade always sends a body with a document): the caller is not at fault.
    row(ID, C(99988), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    row(ID, C(20003), Internal, "UPSTREAM_REJECTED_FACADE_REQUEST", NO, "the upstream rejected the request the facade built"),
    // The facade never sends `useCase`: the vendor takes it from the API key,
    // which is the caller's in pass-through mode (its setup at the vendor,
    // like IDCloud's `XX ID Apikeys are not set`), and the facade's own
    // otherwise (INTERNAL `UPSTREAM_TENANT_MISCONFIGURED`, by the column).
    cred(row(ID, C(20062), FailedPrecondition, "API_KEY_USE_CASE_INVALID", PreconditionOn("TENANT_CONFIGURATION", "useCase"), "the use case configured for the API key is not valid for this call"), TENANT),
    // ---- ID API: the caller's credentials.
    cred(pt(row(ID, C(20002), Unauthenticated, "API_KEY_MISSING", NO, "the API key is missing"), "O parâmetro APIKey não foi informado."), KEY),
    cred(pt(row(ID, C(20001), Unauthenticated, "ACCESS_TOKEN_MISSING", NO, "the access token is missing"), "O parâmetro authtoken não foi informado."), TOKEN),
    cred(pt(row(ID, C(10502), Unauthenticated, "ACCESS_TOKEN_EXPIRED", NO, "the access token has expired"), "O token informado está expirado."), TOKEN),
    cred(pt(row(ID, C(10501), Unauthenticated, "ACCESS_TOKEN_INVALID", NO, "the access token is invalid"), "O token informado é inválido."), TOKEN),
    cred(pt(row(ID, C(10201), Unauthenticated, "API_KEY_INVALID", NO, "the API key is invalid or unknown"), "O AppKey informado é inválido."), KEY),
    cred(row(ID, C(30017), PermissionDenied, "ACTION_NOT_PERMITTED", NO, "the credentials do not allow this action"), PERM),
    // ---- ID API: conflicts and failures.
    row(ID, C(20073), AlreadyExists, "PROCESS_ALREADY_EXISTS", Resource("process"), "the process already exists in this tenant"),
    // ---- ID API: reading a process by id (`more-endpoints.md`, no codes).
    // 410: ended in error or deleted by retention; it will not come back,
    // so NOT_FOUND (not FAILED_PRECONDITION: no state change fixes it).
    row(ID, SR(400), InvalidArgument, "PROCESS_ID_INVALID", Field("process_id"), "the upstream rejected the process id"),
    row(ID, SR(404), NotFound, "PROCESS_NOT_FOUND", Resource("process"), "the process was not found in this tenant"),
    row(ID, SR(410), NotFound, "PROCESS_GONE", Resource("process"), "the process ended in error or was deleted by retention"),
    // ---- 99999 `Internal failure! Try again later`. IDCloud's calls are
    // safe to repeat (a document set by the first attempt answers
    // DOCUMENT_ALREADY_SET) and the vendor asks for a retry with backoff:
    // UNAVAILABLE with RetryInfo. The ID API's create may have been acted on
    // and billed: INTERNAL, no retry hint (find the process, or replay the
    // same request_id).
    row(IDC, C(99999), Unavailable, "UPSTREAM_UNAVAILABLE", Retry, "the upstream failed and asks to try again later"),
    row(ID, C(99999), Internal, "UPSTREAM_INTERNAL_ERROR", NO, "the upstream failed internally"),
    // ---- By HTTP status, when no code above matched.
    row(ANY, S(400), InvalidArgument, "UPSTREAM_INVALID_ARGUMENT", NO, "the upstream rejected the request as invalid"),
    cred(row(ANY, S(401), Unauthenticated, "ACCESS_TOKEN_REJECTED", NO, "the upstream rejected the access token"), TOKEN),
    // A 403 without a code says the credentials may not do this: the
    // caller's are PERMISSION_DENIED; the facade's own, by the column,
    // INTERNAL `UPSTREAM_CREDENTIALS_REJECTED` (never the caller's fault).
    cred(row(ANY, S(403), PermissionDenied, "UPSTREAM_PERMISSION_DENIED", NO, "the upstream denied the request"), PERM),
    row(ANY, S(404), NotFound, "UPSTREAM_NOT_FOUND", NO, "the upstream found no such resource"),
    row(ANY, S(409), AlreadyExists, "UPSTREAM_CONFLICT", NO, "the upstream reports a conflict"),
    row(ANY, S(410), NotFound, "UPSTREAM_GONE", NO, "the resource no longer exists upstream"),
    row(ANY, S(429), ResourceExhausted, "UPSTREAM_RATE_LIMITED", Retry, "the upstream rate limit was reached; retry later"),
    row(ANY, S(500), Internal, "UPSTREAM_INTERNAL_ERROR", NO, "the upstream failed internally"),
    row(ANY, S(502), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
    row(ANY, S(503), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
    row(ANY, S(504), Unavailable, "UPSTREAM_UNAVAILABLE", RetryIfHinted, "the upstream is unavailable"),
];

/// Finds the row for a vendor answer, in the documented precedence.
pub fn find_row(
    api: Api,
    vendor: &VendorError,
    context: &CallContext,
) -> Option<&'static VendorRow> {
    let reusing = context.reusing_document;
    let on_resource = context.resource_name.is_some();
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
        .or_else(|| {
            rows().find(|r| {
                matches!(r.key, Key::CodeAndPrefix(c, p) if Some(c) == number && message.is_some_and(|m| m.starts_with(p)))
            })
        })
        .or_else(|| rows().find(|r| matches!(r.key, Key::Code(c) if Some(c) == number)))
        .or_else(|| {
            rows().find(|r| {
                matches!(r.key, Key::StatusAndMessage(s, m) if s == vendor.http_status && Some(m) == message)
            })
        })
        .or_else(|| {
            rows().find(|r| {
                on_resource && matches!(r.key, Key::StatusOnResource(s) if s == vendor.http_status)
            })
        })
        .or_else(|| rows().find(|r| matches!(r.key, Key::Status(s) if s == vendor.http_status)))
}

/// The mapping of a vendor answer: its row (or the logged fallback), with
/// the details the row names.
pub(super) fn vendor_answer(
    endpoint: Endpoint,
    context: &CallContext,
    vendor: &VendorError,
) -> Mapped {
    // Only at debug, only masked: the body is the vendor's text, which may
    // echo what the caller sent.
    tracing::debug!(
        route = endpoint.route(),
        http_status = vendor.http_status,
        body = %crate::telemetry::redact::body_shape(&vendor.body_excerpt, is_documented_message),
        "upstream error body (shape only)"
    );
    // Every mapping of this answer names its HTTP status and code.
    let answered = |code, reason| Mapped {
        upstream_http_status: Some(vendor.http_status),
        upstream_code: vendor.code.as_ref().map(ToString::to_string),
        ..Mapped::new(code, reason, Origin::Upstream)
    };
    let Some(row) = find_row(endpoint.api(), vendor, context) else {
        // The opaque fallback: say what is known, log enough to add a row.
        tracing::warn!(
            route = endpoint.route(),
            http_status = vendor.http_status,
            vendor_code = vendor.code.as_ref().map(ToString::to_string),
            "unmapped upstream answer"
        );
        return Mapped {
            message: format!(
                "the upstream answered HTTP {} unexpectedly",
                vendor.http_status
            ),
            ..answered(Unknown, reason!("UPSTREAM_UNEXPECTED_ANSWER"))
        };
    };
    if row.code == Internal {
        log_error(
            endpoint,
            row.reason,
            vendor,
            "upstream reports an internal failure or rejected the facade's own request",
        );
    }
    Mapped {
        message: row.summary.to_owned(),
        details: row_details(row, context, vendor),
        credential: row.credential,
        ..answered(row.code, row.reason)
    }
}

/// The details a row adds to ErrorInfo, and its pt-BR message.
fn row_details(row: &VendorRow, context: &CallContext, vendor: &VendorError) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    let resource = context.resource_name.as_deref().unwrap_or_default();
    let subject = context.precondition_subject.as_deref().unwrap_or(resource);
    match row.detail {
        Detail::None => {}
        Detail::Field(path) => {
            let mut violation = FieldViolation::new(path, row.summary);
            violation.reason = row.reason.as_str().to_owned();
            details.set_bad_request(vec![violation]);
        }
        Detail::Precondition(kind) => {
            details.add_precondition_failure_violation(kind, subject, row.summary);
        }
        Detail::PreconditionOn(kind, subject) => {
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
    details
}

/// An ERROR line for an answer the operators must act on: the route, the
/// reason, the vendor's status and code (never its message or body).
pub(super) fn log_error(
    endpoint: Endpoint,
    reason: Reason,
    vendor: &VendorError,
    message: &'static str,
) {
    tracing::error!(
        route = endpoint.route(),
        reason = reason.as_str(),
        http_status = vendor.http_status,
        vendor_code = vendor.code.as_ref().map(ToString::to_string),
        "{message}"
    );
}

/// Whether a text is one of the vendor's documented messages (safe to log).
pub(super) fn is_documented_message(text: &str) -> bool {
    VENDOR_ROWS.iter().any(|r| {
        r.pt_br == Some(text)
            || matches!(r.key, Key::CodeAndMessage(_, m) | Key::StatusAndMessage(_, m) if m == text)
    })
}

/// Whether a vendor code has a row of its own (a bounded metric label).
pub fn is_documented_code(code: &VendorCode) -> bool {
    let number = code.as_number();
    VENDOR_ROWS.iter().any(|r| match r.key {
        Key::Code(c)
        | Key::CodeAndMessage(c, _)
        | Key::CodeAndPrefix(c, _)
        | Key::CodeWhenReusing(c) => Some(c) == number,
        _ => false,
    })
}

/// Whether this failure is the vendor refusing the access token before it
/// acted, read from the row the mapping picks: the one question the retry
/// loop asks.
pub fn refuses_access_token(
    endpoint: Endpoint,
    error: &UpstreamError,
    context: &CallContext,
) -> bool {
    error
        .vendor()
        .and_then(|vendor| find_row(endpoint.api(), vendor, context))
        .is_some_and(|row| row.credential == Credential::AccessToken)
}
