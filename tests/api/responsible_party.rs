//! AIP-193 "adjust the party responsible", in pass-through mode (the
//! caller's credentials), through the real server against the emulator or
//! a scripted answer: the vendor answers whose fault the README's decisions
//! settle (99989 on a new capture, 20062, 10506, IDCloud's 99999, a 403
//! without a code), and local credential refusals carrying the vendor's
//! reasons for the same condition. The facade-held side of each decision is
//! in `facade_credentials.rs`.

use std::time::Duration;

use serde_json::json;
use tonic::{
    Code, Request, Status,
    metadata::{AsciiMetadataValue, MetadataMap},
};
use unico_facade::{
    emulator::{EmulatedEndpoint, FaultScript},
    pb::identity_v1::{CreateDocumentProcessRequest, SetProcessDocumentRequest},
};

use crate::helpers::{
    API_KEY, AUTH_FACE_MATCH, Expected, TOKEN, answer, assert_status, field_violations,
    new_capture, set_cpf, small_png, spawn_app, valid_capture,
};

const FILES: &str = "document.new_capture.files";

fn id_api_error(code: i64, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

fn on(endpoint: EmulatedEndpoint, fault: FaultScript) -> FaultScript {
    FaultScript {
        endpoint: Some(endpoint),
        ..fault
    }
}

/// `message` with exactly these metadata entries.
fn with_metadata<T>(message: T, entries: &[(&'static str, AsciiMetadataValue)]) -> Request<T> {
    let mut request = Request::new(message);
    let metadata: &mut MetadataMap = request.metadata_mut();
    for (key, value) in entries {
        metadata.insert(*key, value.clone());
    }
    request
}

fn ascii(value: &str) -> AsciiMetadataValue {
    value.parse().unwrap()
}

fn bearer() -> AsciiMetadataValue {
    ascii(&format!("Bearer {TOKEN}"))
}

/// A value HTTP/2 carries (an obs-text byte) but that is no usable header
/// text: the facade cannot forward it.
fn unsendable() -> AsciiMetadataValue {
    AsciiMetadataValue::try_from(&b"Bearer \xff"[..]).unwrap()
}

async fn set_document(
    app: &crate::helpers::TestApp,
    request: Request<SetProcessDocumentRequest>,
) -> Status {
    app.process
        .clone()
        .set_process_document(request)
        .await
        .unwrap_err()
}

async fn create_document(
    app: &crate::helpers::TestApp,
    request: Request<CreateDocumentProcessRequest>,
) -> Status {
    app.document
        .clone()
        .create_document_process(request)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_structure_error_on_a_new_capture_is_the_callers_like_the_local_file_count_rule() {
    let app = spawn_app().await;
    app.script(answer(
        400,
        &id_api_error(99989, "The document is invalid."),
    ));

    let upstream = app.create_document(valid_capture()).await.unwrap_err();

    let details = assert_status(
        &upstream,
        Expected {
            code: Code::InvalidArgument,
            reason: "DOCUMENT_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("99989"),
        },
    );
    assert_eq!(details.error_info().unwrap().metadata["origin"], "upstream");
    assert_eq!(
        field_violations(&details),
        [(FILES.to_owned(), "DOCUMENT_INVALID".to_owned())]
    );
    assert_eq!(app.requests().len(), 1);

    // Three files: refused before any call, on the same field, with the
    // same code the vendor's refusal would carry.
    let local = app
        .create_document(new_capture(
            AUTH_FACE_MATCH,
            vec![small_png(), small_png(), small_png()],
        ))
        .await
        .unwrap_err();

    let details = assert_status(
        &local,
        Expected {
            code: Code::InvalidArgument,
            reason: "TOO_MANY_FILES",
            upstream_http_status: None,
            upstream_code: Some("99989"),
        },
    );
    assert_eq!(details.error_info().unwrap().metadata["origin"], "facade");
    assert_eq!(
        field_violations(&details),
        [(FILES.to_owned(), "TOO_MANY_FILES".to_owned())]
    );
    assert_eq!(app.requests().len(), 1, "no second upstream call");
}

#[tokio::test]
async fn an_invalid_use_case_is_the_callers_api_key_setup() {
    let app = spawn_app().await;
    app.script(answer(
        400,
        &id_api_error(20062, "The useCase field is invalid."),
    ));

    let status = app.create_document(valid_capture()).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::FailedPrecondition,
            reason: "API_KEY_USE_CASE_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("20062"),
        },
    );
    let failure = details.precondition_failure().expect("PreconditionFailure");
    assert_eq!(failure.violations.len(), 1);
    assert_eq!(failure.violations[0].r#type, "TENANT_CONFIGURATION");
    assert_eq!(failure.violations[0].subject, "useCase");
    assert!(details.bad_request().is_none(), "no field of the request");
    // The facade never sends useCase: the vendor takes it from the API key.
    let requests = app.requests();
    assert_eq!(requests.len(), 1);
    let body = requests[0].json().unwrap();
    assert!(body.get("useCase").is_none(), "{body}");
    assert_eq!(requests[0].header("apikey"), Some(API_KEY));
}

#[tokio::test]
async fn a_selfie_that_is_not_an_sdk_capture_is_the_state_of_the_named_process() {
    let app = spawn_app().await;

    let status = app
        .create_document(new_capture("auth-jwt-invalid", vec![small_png()]))
        .await
        .unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::FailedPrecondition,
            reason: "SELFIE_JWT_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("10506"),
        },
    );
    let failure = details.precondition_failure().expect("PreconditionFailure");
    assert_eq!(
        (
            failure.violations[0].r#type.as_str(),
            failure.violations[0].subject.as_str()
        ),
        ("SELFIE_JWT", "auth-jwt-invalid")
    );
    assert!(details.bad_request().is_none());
}

#[tokio::test]
async fn idclouds_try_again_later_is_unavailable_with_the_vendors_delay() {
    let app = spawn_app().await;
    app.script(on(
        EmulatedEndpoint::SetProcessDocument,
        FaultScript {
            headers: vec![("retry-after".to_owned(), "3".to_owned())],
            ..answer(
                500,
                r#"{"code":99999,"message":"Internal failure! Try again later"}"#,
            )
        },
    ));

    let status = app
        .set_document(set_cpf("awaiting-99999"))
        .await
        .unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_UNAVAILABLE",
            upstream_http_status: Some("500"),
            upstream_code: Some("99999"),
        },
    );
    assert_eq!(
        details.retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(3))
    );
    assert!(!status.message().contains("Internal failure"));
}

#[tokio::test]
async fn the_id_apis_99999_stays_internal_without_a_retry_hint() {
    // The create may have been acted on and billed: no invitation to retry.
    let app = spawn_app().await;
    app.script(answer(
        500,
        &id_api_error(99999, "Internal failure! Try again later"),
    ));

    let status = app.create_document(valid_capture()).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Internal,
            reason: "UPSTREAM_INTERNAL_ERROR",
            upstream_http_status: Some("500"),
            upstream_code: Some("99999"),
        },
    );
    assert!(details.retry_info().is_none());
    assert_eq!(app.requests().len(), 1, "never retried");
}

#[tokio::test]
async fn a_403_without_a_code_is_permission_denied_with_the_callers_credentials() {
    let app = spawn_app().await;
    for endpoint in [
        EmulatedEndpoint::SetProcessDocument,
        EmulatedEndpoint::CreateDocumentProcess,
    ] {
        app.script(on(endpoint, answer(403, "Forbidden")));
        let status = match endpoint {
            EmulatedEndpoint::SetProcessDocument => {
                app.set_document(set_cpf("awaiting-403")).await.unwrap_err()
            }
            _ => app.create_document(valid_capture()).await.unwrap_err(),
        };
        assert_status(
            &status,
            Expected {
                code: Code::PermissionDenied,
                reason: "UPSTREAM_PERMISSION_DENIED",
                upstream_http_status: Some("403"),
                upstream_code: None,
            },
        );
    }
}

#[tokio::test]
async fn a_missing_credential_has_the_vendors_reason_whoever_notices() {
    let app = spawn_app().await;

    // The facade notices: nothing is sent.
    let local_token = set_document(&app, with_metadata(set_cpf("awaiting-a"), &[])).await;
    let local_key = create_document(
        &app,
        with_metadata(valid_capture(), &[("authorization", bearer())]),
    )
    .await;
    assert!(app.requests().is_empty());
    // The vendor notices (IDCloud's gateway, the ID API's 20002).
    app.script(on(
        EmulatedEndpoint::SetProcessDocument,
        answer(401, "Jwt is missing"),
    ));
    let vendor_token = app.set_document(set_cpf("awaiting-b")).await.unwrap_err();
    app.script(on(
        EmulatedEndpoint::CreateDocumentProcess,
        answer(
            400,
            &id_api_error(20002, "O parâmetro APIKey não foi informado."),
        ),
    ));
    let vendor_key = app.create_document(valid_capture()).await.unwrap_err();

    for (local, vendor, reason, key, vendor_http, vendor_code) in [
        (
            &local_token,
            &vendor_token,
            "ACCESS_TOKEN_MISSING",
            "authorization",
            "401",
            None,
        ),
        (
            &local_key,
            &vendor_key,
            "API_KEY_MISSING",
            "apikey",
            "400",
            Some("20002"),
        ),
    ] {
        let details = assert_status(
            local,
            Expected {
                code: Code::Unauthenticated,
                reason,
                upstream_http_status: None,
                upstream_code: None,
            },
        );
        let metadata = &details.error_info().unwrap().metadata;
        assert_eq!(metadata["metadataKey"], key);
        assert_eq!(metadata["origin"], "facade");
        let details = assert_status(
            vendor,
            Expected {
                code: Code::Unauthenticated,
                reason,
                upstream_http_status: Some(vendor_http),
                upstream_code: vendor_code,
            },
        );
        assert_eq!(details.error_info().unwrap().metadata["origin"], "upstream");
    }
}

#[tokio::test]
async fn an_unsendable_credential_is_the_vendors_invalid_one() {
    let app = spawn_app().await;
    let token = set_document(
        &app,
        with_metadata(set_cpf("awaiting-a"), &[("authorization", unsendable())]),
    )
    .await;
    let key = create_document(
        &app,
        with_metadata(
            valid_capture(),
            &[("authorization", bearer()), ("apikey", unsendable())],
        ),
    )
    .await;

    for (status, reason, metadata_key) in [
        (&token, "ACCESS_TOKEN_INVALID", "authorization"),
        (&key, "API_KEY_INVALID", "apikey"),
    ] {
        let details = assert_status(
            status,
            Expected {
                code: Code::Unauthenticated,
                reason,
                upstream_http_status: None,
                upstream_code: None,
            },
        );
        let metadata = &details.error_info().unwrap().metadata;
        assert_eq!(metadata["metadataKey"], metadata_key);
        assert_eq!(metadata["origin"], "facade");
        assert!(!status.message().contains('\u{ff}'));
    }
    assert!(app.requests().is_empty(), "nothing sent upstream");
}
