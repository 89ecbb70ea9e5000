//! Every reason the facade emits, found by running the mapping over one
//! failure of each kind (vendor rows, local rules, limits, credentials,
//! idempotency, transport, the call itself, the overrides for the facade's
//! own credentials, the opaque fallback), checked against the contract's
//! `ErrorReason` both ways; the README check reads the same list.
//!
//! The `match`es without a wildcard at the end make a new failure variant a
//! compile error here until it is walked too.

use std::{collections::BTreeSet, time::Duration};

use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use super::{
    CallContext, Credential, ERROR_DOMAIN, ERROR_REASON_NAMES, FacadeError, LOCAL_RULES,
    ServerError, VENDOR_ROWS, server, to_status,
};
use crate::{
    credentials::{self, CredentialsError, TokenWaitError},
    idempotency::{IdempotencyError, RequestKeyProblem},
    pb::identity_v1::ErrorReason,
    upstream::{Api, Endpoint, TokenError, UpstreamError, VendorCode, VendorError},
    validation::InvalidRequest,
};

/// A reason the facade emits, and its gRPC code where one README row must
/// give it (local rules are INVALID_ARGUMENT by construction, and their
/// tables list the vendor code instead; an unclassified server answer keeps
/// tonic's code).
pub(super) type Emitted = (&'static str, Option<Code>);

fn answer(status: u16, code: Option<i64>, message: Option<&str>) -> VendorError {
    VendorError {
        http_status: status,
        code: code.map(VendorCode::Number),
        message: message.map(str::to_owned),
        retry_after: None,
        body_excerpt: String::new(),
    }
}

fn transport_error() -> crate::upstream::TransportError {
    std::io::Error::other("the connection broke").into()
}

/// The status the real mapping gives, checked for its domain on the way.
fn emitted(error: &FacadeError) -> Emitted {
    let (status, summary) = to_status(error, None);
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.reason, summary.reason);
    (summary.reason, Some(status.code()))
}

fn upstream(origin: credentials::Origin, error: UpstreamError) -> FacadeError {
    FacadeError::Upstream {
        endpoint: Endpoint::CreateDocumentProcess,
        origin,
        context: CallContext::default(),
        error,
    }
}

fn transport_failures() -> Vec<UpstreamError> {
    let all = vec![
        UpstreamError::BuildRequest {
            detail: String::new(),
        },
        UpstreamError::Connect {
            source: transport_error(),
        },
        UpstreamError::ConnectionLost {
            source: transport_error(),
        },
        UpstreamError::Timeout {
            budget: Duration::from_secs(1),
        },
        UpstreamError::UnparseableResponse {
            http_status: 200,
            detail: String::new(),
        },
    ];
    for error in &all {
        match error {
            UpstreamError::BuildRequest { .. }
            | UpstreamError::Connect { .. }
            | UpstreamError::ConnectionLost { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::UnparseableResponse { .. }
            // Walked row by row below.
            | UpstreamError::Vendor(_) => {}
        }
    }
    all
}

fn credential_failures() -> Vec<CredentialsError> {
    let token = |t| CredentialsError::Token(TokenWaitError::Failed(t));
    let all = vec![
        CredentialsError::Missing {
            key: credentials::AUTHORIZATION_KEY,
        },
        CredentialsError::Missing {
            key: credentials::API_KEY_KEY,
        },
        CredentialsError::Malformed {
            key: credentials::AUTHORIZATION_KEY,
        },
        CredentialsError::Malformed {
            key: credentials::API_KEY_KEY,
        },
        CredentialsError::Token(TokenWaitError::TimedOut),
        token(TokenError::Transient {
            detail: String::new(),
            http_status: Some(503),
            code: None,
        }),
        token(TokenError::Rejected {
            http_status: 400,
            code: None,
        }),
        token(TokenError::AssertionNotSigned),
        CredentialsError::UnsendableToken,
    ];
    for error in &all {
        match error {
            CredentialsError::Missing { .. }
            | CredentialsError::Malformed { .. }
            | CredentialsError::Token(TokenWaitError::TimedOut)
            | CredentialsError::Token(TokenWaitError::Failed(
                TokenError::Transient { .. }
                | TokenError::Rejected { .. }
                | TokenError::AssertionNotSigned,
            ))
            | CredentialsError::UnsendableToken => {}
        }
    }
    all
}

fn idempotency_failures() -> Vec<IdempotencyError> {
    let all = vec![
        IdempotencyError::RequestIdInvalid(RequestKeyProblem::TooLong),
        IdempotencyError::RequestIdInvalid(RequestKeyProblem::BadCharacter),
        IdempotencyError::RequestIdReused,
        IdempotencyError::InProgress {
            retry_after: Duration::from_millis(100),
        },
        IdempotencyError::OutcomeUnknown,
        IdempotencyError::StoreUnavailable,
        IdempotencyError::RecordUnreadable,
    ];
    for error in &all {
        match error {
            IdempotencyError::RequestIdInvalid(_)
            | IdempotencyError::RequestIdReused
            | IdempotencyError::InProgress { .. }
            | IdempotencyError::OutcomeUnknown
            | IdempotencyError::StoreUnavailable
            | IdempotencyError::RecordUnreadable => {}
        }
    }
    all
}

fn other_failures() -> Vec<FacadeError> {
    let all = vec![
        FacadeError::RequestTooLarge { limit: 1 },
        FacadeError::Overloaded { limit: 1 },
        FacadeError::UpstreamRateLimited {
            wait: Duration::from_secs(1),
        },
        FacadeError::NotFinalByDeadline,
        FacadeError::CircuitOpen {
            api: crate::upstream::Api::IdCloud,
            retry_after: Duration::from_secs(1),
        },
        // Validation never reports zero violations; the mapping still
        // answers it with a reason of the enum.
        FacadeError::InvalidRequest(InvalidRequest { violations: vec![] }),
    ];
    for error in &all {
        match error {
            FacadeError::RequestTooLarge { .. }
            | FacadeError::Overloaded { .. }
            | FacadeError::UpstreamRateLimited { .. }
            | FacadeError::NotFinalByDeadline
            | FacadeError::CircuitOpen { .. }
            | FacadeError::InvalidRequest(_)
            // Walked above and below.
            | FacadeError::Credentials(_)
            | FacadeError::Idempotency(_)
            | FacadeError::Upstream { .. } => {}
        }
    }
    all
}

/// Everything the facade can put in `ErrorInfo.reason`.
pub(super) fn all() -> Vec<Emitted> {
    let mut out: Vec<Emitted> = VENDOR_ROWS
        .iter()
        .map(|r| (r.reason.as_str(), Some(r.code)))
        .collect();
    out.extend(LOCAL_RULES.iter().map(|(_, reason, ..)| (*reason, None)));
    // An unclassified answer keeps tonic's code, whatever it is.
    out.extend(server::ALL.iter().map(|e| match e {
        ServerError::Unclassified { .. } => (e.reason(), None),
        e => (e.reason(), Some(e.code())),
    }));
    for error in transport_failures() {
        out.push(emitted(&upstream(credentials::Origin::Caller, error)));
    }
    for error in credential_failures() {
        out.push(emitted(&FacadeError::Credentials(error)));
    }
    for error in idempotency_failures() {
        out.push(emitted(&FacadeError::Idempotency(error)));
    }
    for error in other_failures() {
        out.push(emitted(&error));
    }
    // The facade's own credentials refused: one row of each kind.
    for kind in [
        Credential::AccessToken,
        Credential::ApiKey,
        Credential::Permission,
        Credential::TenantConfiguration,
    ] {
        let row = VENDOR_ROWS.iter().find(|r| r.credential == kind).unwrap();
        let api = row.api.unwrap_or(Api::Id);
        let endpoint = match api {
            Api::Id => Endpoint::CreateDocumentProcess,
            Api::IdCloud => Endpoint::CreateProcess,
        };
        let (code, message) = match row.key {
            super::Key::Code(c) => (Some(c), None),
            super::Key::CodeAndMessage(c, m) => (Some(c), Some(m)),
            super::Key::StatusAndMessage(_, m) => (None, Some(m)),
            _ => (None, None),
        };
        let status = match row.key {
            super::Key::Status(s) | super::Key::StatusAndMessage(s, _) => s,
            _ => 400,
        };
        out.push(emitted(&FacadeError::Upstream {
            endpoint,
            origin: credentials::Origin::Facade,
            context: CallContext::default(),
            error: UpstreamError::Vendor(answer(status, code, message)),
        }));
    }
    // The opaque fallback: an answer no row names.
    out.push(emitted(&upstream(
        credentials::Origin::Caller,
        UpstreamError::Vendor(answer(418, None, None)),
    )));
    out
}

/// The contract's value names, read from the descriptor set reflection
/// serves (not from the build script's list), but the zero.
fn contract_names() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == "unico.identity.v1")
        .flat_map(|f| &f.enum_type)
        .filter(|e| e.name() == "ErrorReason")
        .flat_map(|e| &e.value)
        .filter(|v| v.number() != 0)
        .map(|v| v.name().to_owned())
        .collect()
}

#[test]
fn every_emitted_reason_is_a_value_of_the_contracts_enum() {
    let names = contract_names();
    for (reason, _) in all() {
        assert!(
            names.contains(reason),
            "{reason} is not in proto/unico/identity/v1/error_reason.proto"
        );
        // The generated enum parses it, as a client's would.
        let parsed = ErrorReason::from_str_name(reason).unwrap();
        assert_eq!(parsed.as_str_name(), reason);
    }
}

#[test]
fn every_value_of_the_contracts_enum_is_emitted() {
    let emitted: BTreeSet<&str> = all().into_iter().map(|(r, _)| r).collect();
    for name in contract_names() {
        assert!(
            emitted.contains(name.as_str()),
            "ErrorReason {name} is in the contract but nothing emits it"
        );
    }
}

#[test]
fn the_compile_time_list_is_the_contracts_enum() {
    let built: BTreeSet<String> = ERROR_REASON_NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(built, contract_names());
}

#[test]
fn every_value_is_documented_in_the_contract() {
    // grpcurl describe shows these comments: each value says when it is
    // sent and what the caller should do.
    let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
    let file = set
        .file
        .iter()
        .find(|f| f.name() == "unico/identity/v1/error_reason.proto")
        .expect("error_reason.proto in the descriptor set reflection serves");
    let (enum_index, reason) = file
        .enum_type
        .iter()
        .enumerate()
        .find(|(_, e)| e.name() == "ErrorReason")
        .unwrap();
    let locations = &file.source_code_info.as_ref().unwrap().location;
    for (i, value) in reason.value.iter().enumerate() {
        // EnumDescriptorProto.value is field 2 of FileDescriptorProto.enum_type (5).
        let path = [5, enum_index as i32, 2, i as i32];
        let comment = locations
            .iter()
            .find(|l| l.path == path)
            .and_then(|l| l.leading_comments.as_deref())
            .unwrap_or_default();
        assert!(comment.trim().len() > 20, "{} has no comment", value.name());
    }
}
