//! THE mapping from every failure (local validation, missing credentials, an
//! upstream failure) to a `tonic::Status` with `google.rpc` error details.
//!
//! Read it as tables, top to bottom, against the reference pages in
//! `shared/upstream/`:
//! - [`local`]: requests refused by the facade ([`LOCAL_RULES`], with the
//!   reason and the code the vendor's own rejection would have carried), its
//!   limits, and credentials that could not be had;
//! - [`vendor`]: vendor answers ([`VENDOR_ROWS`]), looked up by (code and
//!   message), then code, then (HTTP status and message), then HTTP status;
//!   a code that arrives under an unexpected status is still mapped by its
//!   code; each row also says what the answer means about the credentials;
//! - [`transport`]: failures before a vendor answer existed, and calls an
//!   open circuit refused;
//! - [`server`]: answers about the call itself, not its content (the gRPC
//!   wire, the call's deadline, the request-message timeout, cancellation,
//!   shutdown), given by the protocol layer and the call ledger;
//! - a logged, opaque fallback for anything else.
//!
//! This module turns the chosen row into a `Status`: ErrorInfo from typed
//! values, RequestInfo, and the summary the call's log line and metrics use.
//!
//! Codes follow the meaning of `google.rpc.Code`, not gRPC's HTTP
//! "intermediary" table. Status messages are short English for developers:
//! never an upstream body, a token, or personal data.

#[cfg(test)]
mod catalogue;
mod idempotency;
mod local;
#[cfg(test)]
mod readme;
mod reason;
mod server;
mod transport;
mod vendor;

use std::{collections::HashMap, time::Duration};

pub use local::{LOCAL_RULES, LocalCode, upstream_code_assumed};
use reason::reason;
pub use reason::{ERROR_REASON_NAMES, Reason};
pub use server::{ServerError, Stage, server_status};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
pub use vendor::{
    Credential, Detail, Key, VENDOR_ROWS, VendorRow, find_row, is_documented_code,
    refuses_access_token,
};

use crate::{
    credentials::{self, CredentialsError},
    upstream::{Endpoint, UpstreamError},
    validation::InvalidRequest,
};

/// `ErrorInfo.domain` of every error this service emits: a stable service
/// name (AIP-193), not the binary's or the telemetry's name, so that it never
/// changes with a deployment.
pub const ERROR_DOMAIN: &str = "identity.unico-facade";
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
    /// A create with a `request_id` that cannot run or be replayed.
    #[error("idempotency: {0}")]
    Idempotency(#[from] crate::idempotency::IdempotencyError),
    /// The request message is over the decoding limit.
    #[error("request over {limit} bytes")]
    RequestTooLarge { limit: usize },
    /// The facade is at its limit of concurrent calls.
    #[error("over {limit} concurrent calls")]
    Overloaded { limit: usize },
    /// The outgoing rate limit would make the call wait past its deadline.
    #[error("the upstream rate limit would delay the call by {wait:?}")]
    UpstreamRateLimited { wait: Duration },
    /// The upstream family's circuit is open: refused at once, nothing sent.
    #[error("the {api:?} circuit is open for {retry_after:?}")]
    CircuitOpen {
        api: crate::upstream::Api,
        retry_after: Duration,
    },
    /// A watch reached its deadline before the resource's state was final.
    #[error("not final by the deadline")]
    NotFinalByDeadline,
    #[error("{endpoint:?}: {error}")]
    Upstream {
        endpoint: Endpoint,
        /// Whose credentials the call carried.
        origin: credentials::Origin,
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

/// Who refused the call, as ErrorInfo's `origin` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The facade itself, before (or instead of) an upstream call.
    Facade,
    /// The vendor's answer, or the exchange with it.
    Upstream,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Facade => "facade",
            Origin::Upstream => "upstream",
        }
    }
}

/// The outcome of the mapping, before it becomes a `Status`.
#[derive(Debug, Clone)]
struct Mapped {
    code: Code,
    message: String,
    reason: Reason,
    origin: Origin,
    /// The vendor's HTTP status, when an answer had one.
    upstream_http_status: Option<u16>,
    /// The vendor's code; for a local refusal, the code its refusal would carry.
    upstream_code: Option<String>,
    /// What the row says about the credentials (vendor answers only).
    credential: Credential,
    /// ErrorInfo metadata beyond origin, HTTP status and code.
    metadata: HashMap<String, String>,
    details: ErrorDetails,
}

impl Mapped {
    fn new(code: Code, reason: Reason, origin: Origin) -> Self {
        Self {
            code,
            message: String::new(),
            reason,
            origin,
            upstream_http_status: None,
            upstream_code: None,
            credential: Credential::None,
            metadata: HashMap::new(),
            details: ErrorDetails::new(),
        }
    }
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
    pub upstream_http_status: Option<u16>,
    pub upstream_code: Option<String>,
}

/// The status for a failure; with a request id, a RequestInfo detail too.
pub fn to_status(error: &FacadeError, request_id: Option<&str>) -> (Status, Summary) {
    let mapped = map(error);
    let summary = Summary {
        code: mapped.code,
        reason: mapped.reason.as_str(),
        local: is_refusal(error),
        upstream_http_status: mapped.upstream_http_status,
        upstream_code: mapped.upstream_code.clone(),
    };
    let Mapped {
        code,
        message,
        reason,
        origin,
        upstream_http_status,
        upstream_code,
        mut metadata,
        mut details,
        ..
    } = mapped;
    metadata.insert("origin".to_owned(), origin.as_str().to_owned());
    if let Some(status) = upstream_http_status {
        metadata.insert("upstreamHttpStatus".to_owned(), status.to_string());
    }
    if let Some(code) = upstream_code {
        metadata.insert("upstreamCode".to_owned(), code);
    }
    if let Some(id) = request_id {
        details.set_request_info(id, "");
    }
    details.set_error_info(reason.as_str(), ERROR_DOMAIN, metadata);
    (Status::with_error_details(code, message, details), summary)
}

/// Whether the facade refused the call itself (counted as a local
/// rejection), rather than ending it for another reason.
fn is_refusal(error: &FacadeError) -> bool {
    match error {
        FacadeError::InvalidRequest(_)
        | FacadeError::Credentials(_)
        | FacadeError::RequestTooLarge { .. }
        | FacadeError::Overloaded { .. }
        | FacadeError::UpstreamRateLimited { .. }
        | FacadeError::CircuitOpen { .. } => true,
        FacadeError::Idempotency(error) => matches!(
            error,
            crate::idempotency::IdempotencyError::RequestIdInvalid(_)
                | crate::idempotency::IdempotencyError::RequestIdReused
        ),
        FacadeError::NotFinalByDeadline | FacadeError::Upstream { .. } => false,
    }
}

fn map(error: &FacadeError) -> Mapped {
    match error {
        FacadeError::InvalidRequest(invalid) => local::local(invalid),
        FacadeError::Credentials(error) => local::credentials(error),
        FacadeError::Idempotency(error) => idempotency::idempotency(error),
        FacadeError::RequestTooLarge { limit } => local::facade_limit(
            reason!("REQUEST_TOO_LARGE"),
            format!("the request is larger than the {limit}-byte limit"),
            ("limitBytes", *limit),
            None,
        ),
        // Fast rejection: better a retry elsewhere than a queue here.
        FacadeError::Overloaded { limit } => local::facade_limit(
            reason!("OVERLOADED"),
            format!("the facade is at its limit of {limit} concurrent calls; retry shortly"),
            ("limit", *limit),
            Some(DEFAULT_RETRY_DELAY),
        ),
        // The vendor allows a few requests per second per tenant: the
        // facade queues within each call's deadline, and refuses beyond.
        FacadeError::UpstreamRateLimited { wait } => local::facade_limit(
            reason!("UPSTREAM_RATE_LIMIT_QUEUE_FULL"),
            "the outgoing rate limit cannot fit this call within its deadline".to_owned(),
            ("waitMillis", wait.as_millis() as usize),
            Some(*wait),
        ),
        FacadeError::CircuitOpen { api, retry_after } => {
            transport::circuit_open(*api, *retry_after)
        }
        // Not a failure of the facade or the vendor: the state was simply
        // not final in time. The caller watches again or reads later.
        FacadeError::NotFinalByDeadline => Mapped {
            message:
                "the process was not final before the call's deadline; watch again or read it later"
                    .to_owned(),
            ..Mapped::new(
                Code::DeadlineExceeded,
                reason!("PROCESS_NOT_FINAL"),
                Origin::Facade,
            )
        },
        FacadeError::Upstream {
            endpoint,
            context,
            origin,
            error,
        } => upstream(*endpoint, *origin, context, error),
    }
}

fn upstream(
    endpoint: Endpoint,
    origin: credentials::Origin,
    context: &CallContext,
    error: &UpstreamError,
) -> Mapped {
    let UpstreamError::Vendor(vendor) = error else {
        return transport::transport(endpoint, error);
    };
    let mapped = vendor::vendor_answer(endpoint, context, vendor);
    // The caller's own credentials refused stay UNAUTHENTICATED /
    // PERMISSION_DENIED; the facade's refused are not the caller's fault.
    if origin != credentials::Origin::Facade || mapped.credential == Credential::None {
        return mapped;
    }
    if mapped.credential == Credential::TenantConfiguration {
        vendor::log_error(
            endpoint,
            mapped.reason,
            vendor,
            "the vendor says the facade's tenant is not configured for this call: ask the vendor",
        );
        return Mapped {
            code: Code::Internal,
            reason: reason!("UPSTREAM_TENANT_MISCONFIGURED"),
            message: "the facade's tenant is not configured at the vendor for this call".to_owned(),
            details: ErrorDetails::new(),
            ..mapped
        };
    }
    vendor::log_error(
        endpoint,
        mapped.reason,
        vendor,
        "the vendor rejected the facade's own credentials: check the API key and the service account",
    );
    Mapped {
        code: Code::Internal,
        reason: reason!("UPSTREAM_CREDENTIALS_REJECTED"),
        message: "the vendor rejected the facade's own credentials".to_owned(),
        details: ErrorDetails::new(),
        ..mapped
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code::*;

    use super::*;
    use crate::{
        upstream::{Api, VendorCode, VendorError},
        validation::Rule,
    };

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
        for (rule, reason, api, code) in LOCAL_RULES.iter().filter(|(_, _, api, _)| *api == Api::Id)
        {
            let Some(row) = VENDOR_ROWS
                .iter()
                .find(|r| r.api == Some(*api) && Some(r.key) == code.code().map(Key::Code))
            else {
                continue;
            };
            let same = row.reason == *reason
                || matches!(
                    rule,
                    Rule::SubjectDuiTypeMissing | Rule::DocumentMissing | Rule::TooManyFiles
                );
            assert!(same, "{rule:?}: {reason} vs {}", row.reason);
            // More than two files is one case of 99989's structure error: a
            // more precise reason, but the same party, code and field.
            if *rule == Rule::TooManyFiles {
                assert_eq!(row.reason, "DOCUMENT_INVALID");
                assert_eq!(row.code, InvalidArgument);
                assert_eq!(row.detail, Detail::Field("document.new_capture.files"));
            }
        }
    }

    #[test]
    fn reasons_are_upper_snake_and_summaries_are_short() {
        for r in VENDOR_ROWS {
            assert!(
                r.reason
                    .as_str()
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
        let row = find_row(
            Api::Id,
            &vendor(500, Some(20507), None),
            &CallContext::default(),
        )
        .unwrap();
        assert_eq!(row.reason, "SUBJECT_CODE_INVALID");
        let row = find_row(
            Api::IdCloud,
            &vendor(200, Some(9), Some("process expired")),
            &CallContext::default(),
        )
        .unwrap();
        assert_eq!(row.reason, "PROCESS_EXPIRED");
    }

    #[test]
    fn a_structure_error_on_a_reuse_is_the_callers_document_id() {
        let answer = vendor(400, Some(99989), Some("The document is invalid."));
        assert_eq!(
            find_row(Api::Id, &answer, &reusing()).unwrap().reason,
            "DOCUMENT_ID_INVALID"
        );
        // On a new capture the structure is built from the caller's files.
        let row = find_row(Api::Id, &answer, &CallContext::default()).unwrap();
        assert_eq!(row.reason, "DOCUMENT_INVALID");
        assert_eq!(row.code, InvalidArgument);
        assert_eq!(row.detail, Detail::Field("document.new_capture.files"));
    }

    #[test]
    fn the_family_decides_the_vocabulary() {
        // 3 means INVALID_ARGUMENT on IDCloud only; on the ID API it is unknown.
        let row = find_row(
            Api::Id,
            &vendor(400, Some(3), Some("process expired")),
            &CallContext::default(),
        )
        .unwrap();
        assert_eq!(row.reason, "UPSTREAM_INVALID_ARGUMENT");
        assert_eq!(row.key, Key::Status(400));
        assert!(
            find_row(
                Api::IdCloud,
                &vendor(400, Some(20507), None),
                &CallContext::default()
            )
            .unwrap()
            .key == Key::Status(400)
        );
    }

    #[test]
    fn unknown_code_falls_back_on_the_status_and_unknown_status_on_unknown() {
        let row = find_row(
            Api::IdCloud,
            &vendor(503, Some(77), None),
            &CallContext::default(),
        )
        .unwrap();
        assert_eq!(row.code, Unavailable);
        assert!(
            find_row(
                Api::IdCloud,
                &vendor(418, None, None),
                &CallContext::default()
            )
            .is_none()
        );
        let status: Status = FacadeError::Upstream {
            endpoint: Endpoint::SetProcessDocument,
            origin: credentials::Origin::Caller,
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

    fn reusing() -> CallContext {
        CallContext {
            reusing_document: true,
            ..CallContext::default()
        }
    }

    #[test]
    fn a_404_or_410_is_the_process_only_on_a_read_by_id() {
        let read = CallContext {
            resource_name: Some("p-1".into()),
            ..CallContext::default()
        };
        let gone = vendor(410, None, None);
        assert_eq!(
            find_row(Api::Id, &gone, &read).unwrap().reason,
            "PROCESS_GONE"
        );
        assert_eq!(
            find_row(Api::Id, &vendor(404, None, None), &read)
                .unwrap()
                .reason,
            "PROCESS_NOT_FOUND"
        );
        let create = CallContext::default();
        assert_eq!(
            find_row(Api::Id, &gone, &create).unwrap().reason,
            "UPSTREAM_GONE"
        );
        assert_eq!(
            find_row(Api::Id, &vendor(404, None, None), &create)
                .unwrap()
                .reason,
            "UPSTREAM_NOT_FOUND"
        );
    }

    fn facade_call(endpoint: Endpoint, answer: VendorError) -> (FacadeError, UpstreamError) {
        let error = FacadeError::Upstream {
            endpoint,
            origin: credentials::Origin::Facade,
            context: CallContext::default(),
            error: UpstreamError::Vendor(answer.clone()),
        };
        (error, UpstreamError::Vendor(answer))
    }

    #[test]
    fn the_retry_decision_and_the_mapping_come_from_the_same_row() {
        // An IDCloud 401 whose body carries code 3: the row picked is code
        // 3's, which says nothing about credentials, so the facade's token is
        // not refreshed and the caller is told about an argument.
        let (error, upstream) = facade_call(
            Endpoint::SetProcessDocument,
            vendor(401, Some(3), Some("bad field")),
        );
        assert!(!refuses_access_token(
            Endpoint::SetProcessDocument,
            &upstream,
            &CallContext::default()
        ));
        let (status, summary) = to_status(&error, None);
        assert_eq!(status.code(), InvalidArgument);
        assert_eq!(summary.reason, "UPSTREAM_INVALID_ARGUMENT");

        // A plain 401 picks the token row: refreshed and retried, and if it
        // stays refused, the facade's credentials are at fault.
        let (error, upstream) = facade_call(
            Endpoint::SetProcessDocument,
            vendor(401, None, Some("Jwt is expired")),
        );
        assert!(refuses_access_token(
            Endpoint::SetProcessDocument,
            &upstream,
            &CallContext::default()
        ));
        let (status, summary) = to_status(&error, None);
        assert_eq!(status.code(), Internal);
        assert_eq!(summary.reason, "UPSTREAM_CREDENTIALS_REJECTED");

        // The ID API's 403 10501 is a token row; its 30017 is a permission
        // row: overridden for the facade's credentials, never retried.
        let (_, upstream) = facade_call(
            Endpoint::CreateDocumentProcess,
            vendor(403, Some(10501), None),
        );
        assert!(refuses_access_token(
            Endpoint::CreateDocumentProcess,
            &upstream,
            &CallContext::default()
        ));
        let (error, upstream) = facade_call(
            Endpoint::CreateDocumentProcess,
            vendor(403, Some(30017), None),
        );
        assert!(!refuses_access_token(
            Endpoint::CreateDocumentProcess,
            &upstream,
            &CallContext::default()
        ));
        assert_eq!(
            to_status(&error, None).1.reason,
            "UPSTREAM_CREDENTIALS_REJECTED"
        );
    }

    #[test]
    fn messages_with_a_varying_tail_match_by_prefix() {
        let cases = [
            (
                "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url, more",
                "CALLBACK_URI_INVALID",
            ),
            (
                "invalid person: email required for notification channel NOTIFICATION_CHANNEL_EMAIL, x",
                "PERSON_EMAIL_REQUIRED",
            ),
            (
                "invalid person: phone number required for notification channel NOTIFICATION_CHANNEL_WHATSAPP, phone number does not contain 13 chars",
                "PERSON_PHONE_INVALID",
            ),
            ("invalid flow", "FLOW_INVALID"),
            ("invalid callbackUri", "UPSTREAM_INVALID_ARGUMENT"),
        ];
        for (message, reason) in cases {
            let row = find_row(
                Api::IdCloud,
                &vendor(400, Some(3), Some(message)),
                &CallContext::default(),
            )
            .unwrap();
            assert_eq!(row.reason, reason, "{message}");
        }
    }

    #[test]
    fn tenant_and_permission_answers_blame_the_facade_when_its_credentials_are_used() {
        for (code, message, caller_code, caller_reason, facade_reason) in [
            (
                9,
                "XX ID Apikeys are not set",
                FailedPrecondition,
                "TENANT_API_KEYS_NOT_SET",
                "UPSTREAM_TENANT_MISCONFIGURED",
            ),
            (
                7,
                "no permission",
                PermissionDenied,
                "ACTION_NOT_PERMITTED",
                "UPSTREAM_CREDENTIALS_REJECTED",
            ),
        ] {
            let answer = vendor(400, Some(code), Some(message));
            let (error, upstream) = facade_call(Endpoint::CreateProcess, answer.clone());
            assert!(!refuses_access_token(
                Endpoint::CreateProcess,
                &upstream,
                &CallContext::default()
            ));
            let (status, summary) = to_status(&error, None);
            assert_eq!(status.code(), Internal);
            assert_eq!(summary.reason, facade_reason);
            let caller = FacadeError::Upstream {
                endpoint: Endpoint::CreateProcess,
                origin: credentials::Origin::Caller,
                context: CallContext::default(),
                error: UpstreamError::Vendor(answer),
            };
            let (status, summary) = to_status(&caller, None);
            assert_eq!(status.code(), caller_code);
            assert_eq!(summary.reason, caller_reason);
        }
    }

    #[test]
    fn a_codeless_403_and_an_invalid_use_case_are_the_facades_with_its_own_credentials() {
        for (endpoint, answer, caller_code, caller_reason, facade_reason) in [
            (
                Endpoint::SetProcessDocument,
                vendor(403, None, Some("Forbidden")),
                PermissionDenied,
                "UPSTREAM_PERMISSION_DENIED",
                "UPSTREAM_CREDENTIALS_REJECTED",
            ),
            (
                Endpoint::CreateDocumentProcess,
                vendor(400, Some(20062), Some("The useCase field is invalid.")),
                FailedPrecondition,
                "API_KEY_USE_CASE_INVALID",
                "UPSTREAM_TENANT_MISCONFIGURED",
            ),
        ] {
            let (error, upstream) = facade_call(endpoint, answer.clone());
            assert!(!refuses_access_token(
                endpoint,
                &upstream,
                &CallContext::default()
            ));
            let (status, summary) = to_status(&error, None);
            assert_eq!((status.code(), summary.reason), (Internal, facade_reason));
            let caller = FacadeError::Upstream {
                endpoint,
                origin: credentials::Origin::Caller,
                context: CallContext::default(),
                error: UpstreamError::Vendor(answer),
            };
            let (status, summary) = to_status(&caller, None);
            assert_eq!(
                (status.code(), summary.reason),
                (caller_code, caller_reason)
            );
        }
    }

    #[test]
    fn try_again_later_is_unavailable_on_idcloud_and_internal_on_the_id_api() {
        let answer = vendor(500, Some(99999), Some("Internal failure! Try again later"));
        let idcloud = find_row(Api::IdCloud, &answer, &CallContext::default()).unwrap();
        assert_eq!(
            (idcloud.code, idcloud.reason, idcloud.detail),
            (
                Unavailable,
                Reason::known("UPSTREAM_UNAVAILABLE"),
                Detail::Retry
            )
        );
        let id = find_row(Api::Id, &answer, &CallContext::default()).unwrap();
        assert_eq!(
            (id.code, id.reason, id.detail),
            (
                Internal,
                Reason::known("UPSTREAM_INTERNAL_ERROR"),
                Detail::None
            )
        );
    }

    #[test]
    fn every_credential_row_is_a_refusal_code() {
        for row in VENDOR_ROWS {
            let expected = match row.credential {
                Credential::None => continue,
                Credential::AccessToken | Credential::ApiKey => Unauthenticated,
                Credential::Permission => PermissionDenied,
                Credential::TenantConfiguration => FailedPrecondition,
            };
            assert_eq!(row.code, expected, "{}", row.reason);
        }
    }
}
