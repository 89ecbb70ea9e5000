//! Every code of the create-document-process page, from an upstream answer:
//! the gRPC code, the ErrorInfo reason and metadata, the detail, and the
//! vendor's Portuguese message as LocalizedMessage. Then the envelopes, the
//! fallbacks, the emulator's own answers, and the caller's credentials.

use std::time::Duration;

use serde_json::json;
use tonic::{Code, Request, Status};
use tonic_types::ErrorDetails;
use unico_facade::{emulator::FaultScript, pb::identity_v1::CreateDocumentProcessRequest};

use crate::helpers::{
    API_KEY, AUTH_FACE_MATCH, Expected, TOKEN, TestApp, answer, assert_status, field_violations,
    new_capture, pt_br_message, small_png, spawn_app, valid_capture,
};

const FILES: &str = "document.new_capture.files";

/// The detail a row adds to ErrorInfo.
#[derive(Debug, Clone, Copy)]
enum Detail {
    None,
    /// BadRequest with one violation on this field.
    Field(&'static str),
    /// PreconditionFailure of this type.
    Precondition(&'static str),
    /// ResourceInfo of this resource type.
    Resource(&'static str),
}

/// One line of the page's error table and what the facade makes of it.
#[derive(Debug)]
struct Row {
    http: u16,
    code: i64,
    /// Verbatim from the page.
    message: &'static str,
    /// Whether the page's message is Portuguese (then sent as LocalizedMessage pt-BR).
    portuguese: bool,
    grpc: Code,
    reason: &'static str,
    detail: Detail,
}

const fn row(
    http: u16,
    code: i64,
    message: &'static str,
    portuguese: bool,
    grpc: Code,
    reason: &'static str,
    detail: Detail,
) -> Row {
    Row {
        http,
        code,
        message,
        portuguese,
        grpc,
        reason,
        detail,
    }
}

const PT: bool = true;
const EN: bool = false;

/// The 31 codes of `create-document-process.md`, in the page's order.
#[rustfmt::skip]
const PAGE: [Row; 31] = {
    use Code::*;
    use Detail::{Field, Precondition, Resource};
    const NO: Detail = Detail::None;
    const REJECTED: &str = "UPSTREAM_REJECTED_FACADE_REQUEST";
    [
        row(400, 99989, "The document is invalid.", EN, InvalidArgument, "DOCUMENT_INVALID", Field(FILES)),
        row(400, 99988, "The document is empty.", EN, Internal, REJECTED, NO),
        row(400, 20900, "O base64 informado não é válido.", PT, InvalidArgument, "IMAGE_INVALID", Field(FILES)),
        row(400, 20807, "A imagem precisa estar no padrão HD ou possuir uma resolução superior a 640 x 480.", PT, InvalidArgument, "IMAGE_RESOLUTION_TOO_LOW", Field(FILES)),
        row(400, 20509, "The subject.name field is invalid.", EN, InvalidArgument, "SUBJECT_NAME_INVALID", Field("subject.name")),
        row(400, 20508, "The subject.gender field is invalid.", EN, InvalidArgument, "SUBJECT_GENDER_INVALID", Field("subject.gender")),
        row(400, 20507, "O parâmetro subject.code é inválido.", PT, InvalidArgument, "SUBJECT_CODE_INVALID", Field("subject.code")),
        row(400, 20506, "O base64 informado é muito grande. O tamanho máximo suportado é até 800kb.", PT, InvalidArgument, "IMAGE_TOO_LARGE", Field(FILES)),
        row(400, 20505, "O base64 informado não é suportado. Os formatos aceitos são png, jpeg e webp.", PT, InvalidArgument, "IMAGE_FORMAT_UNSUPPORTED", Field(FILES)),
        row(400, 20068, "The document.documentId or document.files parameter must be present.", EN, InvalidArgument, "DOCUMENT_CAPTURE_MISSING", Field(FILES)),
        row(400, 20067, "The document.purpose parameter is invalid.", EN, InvalidArgument, "DOCUMENT_PURPOSE_INVALID", Field("document.purpose")),
        row(400, 20066, "The document.authProcessId parameter is invalid.", EN, InvalidArgument, "AUTH_PROCESS_ID_INVALID", Field("document.auth_process_id")),
        row(400, 20062, "The useCase field is invalid.", EN, FailedPrecondition, "API_KEY_USE_CASE_INVALID", Precondition("TENANT_CONFIGURATION")),
        row(400, 20021, "The subject.phone field is invalid.", EN, InvalidArgument, "SUBJECT_PHONE_INVALID", Field("subject.phone")),
        row(400, 20019, "The subject.birthDate field is invalid.", EN, InvalidArgument, "SUBJECT_BIRTH_DATE_INVALID", Field("subject.birth_date")),
        row(400, 20009, "O parâmetro imagebase64 não foi informado.", PT, InvalidArgument, "IMAGE_MISSING", Field(FILES)),
        row(400, 20008, "The subject.email field is invalid.", EN, InvalidArgument, "SUBJECT_EMAIL_INVALID", Field("subject.email")),
        row(400, 20005, "O parâmetro subject.code não foi informado.", PT, InvalidArgument, "SUBJECT_CODE_REQUIRED", Field("subject.code")),
        row(400, 20004, "O parâmetro subject não foi informado.", PT, InvalidArgument, "SUBJECT_REQUIRED", Field("subject")),
        row(400, 20003, "The request body is missing or invalid.", EN, Internal, REJECTED, NO),
        row(400, 20002, "O parâmetro APIKey não foi informado.", PT, Unauthenticated, "API_KEY_MISSING", NO),
        row(400, 20001, "O parâmetro authtoken não foi informado.", PT, Unauthenticated, "ACCESS_TOKEN_MISSING", NO),
        row(400, 10508, "The JWT with the captured face has already been used.", EN, FailedPrecondition, "SELFIE_JWT_ALREADY_USED", Precondition("SELFIE_JWT")),
        row(400, 10507, "The JWT with the captured face is expired.", EN, FailedPrecondition, "SELFIE_JWT_EXPIRED", Precondition("SELFIE_JWT")),
        row(400, 10506, "The imageBase64 field is not a valid JWT from SDK.", EN, FailedPrecondition, "SELFIE_JWT_INVALID", Precondition("SELFIE_JWT")),
        row(403, 30017, "User does not have permission to perform this action.", EN, PermissionDenied, "ACTION_NOT_PERMITTED", NO),
        row(403, 10502, "O token informado está expirado.", PT, Unauthenticated, "ACCESS_TOKEN_EXPIRED", NO),
        row(403, 10501, "O token informado é inválido.", PT, Unauthenticated, "ACCESS_TOKEN_INVALID", NO),
        row(403, 10201, "O AppKey informado é inválido.", PT, Unauthenticated, "API_KEY_INVALID", NO),
        row(409, 20073, "The processID already exists.", EN, AlreadyExists, "PROCESS_ALREADY_EXISTS", Resource("process")),
        row(500, 99999, "Internal failure! Try again later", EN, Internal, "UPSTREAM_INTERNAL_ERROR", NO),
    ]
};

/// The ID API's error envelope.
fn id_api_error(code: i64, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// Asserts the detail of a row, and that no other detail is there.
fn assert_detail(details: &ErrorDetails, detail: Detail, reason: &str, context: &str) {
    match detail {
        Detail::Field(field) => assert_eq!(
            field_violations(details),
            vec![(field.to_owned(), reason.to_owned())],
            "{context}"
        ),
        _ => assert!(details.bad_request().is_none(), "{context}: BadRequest"),
    }
    match detail {
        Detail::Precondition(kind) => {
            let failure = details
                .precondition_failure()
                .unwrap_or_else(|| panic!("{context}: PreconditionFailure"));
            assert_eq!(failure.violations.len(), 1, "{context}");
            assert_eq!(failure.violations[0].r#type, kind, "{context}");
        }
        _ => assert!(
            details.precondition_failure().is_none(),
            "{context}: PreconditionFailure"
        ),
    }
    match detail {
        Detail::Resource(kind) => {
            let resource = details
                .resource_info()
                .unwrap_or_else(|| panic!("{context}: ResourceInfo"));
            assert_eq!(resource.resource_type, kind, "{context}");
        }
        _ => assert!(details.resource_info().is_none(), "{context}: ResourceInfo"),
    }
}

/// A status message is short English for developers, never the upstream's words.
fn assert_message_is_the_facades_own(status: &Status, upstream_message: &str, context: &str) {
    let message = status.message();
    assert!(!message.is_empty(), "{context}");
    assert!(message.is_ascii(), "{context}: English, got {message:?}");
    assert!(
        !message.contains(upstream_message),
        "{context}: upstream text in {message:?}"
    );
    assert!(
        !message.contains('{') && !message.contains("error"),
        "{context}: raw body in {message:?}"
    );
}

#[tokio::test]
async fn every_code_of_the_page_is_mapped_from_an_upstream_answer() {
    let mut codes: Vec<i64> = PAGE.iter().map(|r| r.code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 31, "the table above lists each code once");
    let app = spawn_app().await;
    for (i, row) in PAGE.iter().enumerate() {
        let context = format!("{} {}", row.http, row.code);
        app.script(answer(row.http, &id_api_error(row.code, row.message)));

        let status = app.create_document(valid_capture()).await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: row.grpc,
                reason: row.reason,
                upstream_http_status: Some(&row.http.to_string()),
                upstream_code: Some(&row.code.to_string()),
            },
        );
        assert_eq!(
            details.error_info().unwrap().metadata["origin"],
            "upstream",
            "{context}"
        );
        assert_detail(&details, row.detail, row.reason, &context);
        assert_eq!(
            pt_br_message(&details).as_deref(),
            row.portuguese.then_some(row.message),
            "{context}: LocalizedMessage"
        );
        assert_message_is_the_facades_own(&status, row.message, &context);
        assert_eq!(app.requests().len(), i + 1, "{context}: one call upstream");
    }
}

#[tokio::test]
async fn a_code_under_an_unexpected_status_is_mapped_by_its_code() {
    let app = spawn_app().await;
    let cases = [
        (500, 20507, Code::InvalidArgument, "SUBJECT_CODE_INVALID"),
        (
            403,
            20068,
            Code::InvalidArgument,
            "DOCUMENT_CAPTURE_MISSING",
        ),
        (400, 10201, Code::Unauthenticated, "API_KEY_INVALID"),
        (502, 10507, Code::FailedPrecondition, "SELFIE_JWT_EXPIRED"),
        (400, 20073, Code::AlreadyExists, "PROCESS_ALREADY_EXISTS"),
        (503, 99999, Code::Internal, "UPSTREAM_INTERNAL_ERROR"),
    ];
    for (http, code, grpc, reason) in cases {
        app.script(answer(http, &id_api_error(code, "whatever")));

        let status = app.create_document(valid_capture()).await.unwrap_err();

        assert_status(
            &status,
            Expected {
                code: grpc,
                reason,
                upstream_http_status: Some(&http.to_string()),
                upstream_code: Some(&code.to_string()),
            },
        );
    }
}

#[tokio::test]
async fn an_unknown_code_falls_back_on_the_http_status_keeping_both() {
    let app = spawn_app().await;
    let cases = [
        (
            400,
            12345,
            Code::InvalidArgument,
            "UPSTREAM_INVALID_ARGUMENT",
        ),
        (
            403,
            12345,
            Code::PermissionDenied,
            "UPSTREAM_PERMISSION_DENIED",
        ),
        (409, 12345, Code::AlreadyExists, "UPSTREAM_CONFLICT"),
        (500, 12345, Code::Internal, "UPSTREAM_INTERNAL_ERROR"),
        (503, 12345, Code::Unavailable, "UPSTREAM_UNAVAILABLE"),
        (418, 12345, Code::Unknown, "UPSTREAM_UNEXPECTED_ANSWER"),
        // The IDCloud API's code 9 means nothing on the ID API.
        (400, 9, Code::InvalidArgument, "UPSTREAM_INVALID_ARGUMENT"),
    ];
    for (http, code, grpc, reason) in cases {
        app.script(answer(http, &id_api_error(code, "process expired")));

        let status = app.create_document(valid_capture()).await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: grpc,
                reason,
                upstream_http_status: Some(&http.to_string()),
                upstream_code: Some(&code.to_string()),
            },
        );
        assert!(details.localized_message().is_none(), "{http} {code}");
        assert_message_is_the_facades_own(&status, "process expired", &format!("{http}"));
    }
}

#[tokio::test]
async fn the_code_is_read_whatever_the_envelope() {
    let app = spawn_app().await;
    let message = "The document.documentId or document.files parameter must be present.";
    let bodies = [
        json!({"error": {"code": "20068", "message": message}}),
        json!({"error": {"code": 20068, "description": message}}),
        json!({"Error": {"code": "20068", "description": message}}),
        json!({"code": 20068, "message": message, "details": []}),
        json!({"error": {"code": " 20068 "}}),
    ];
    for body in bodies {
        app.script(answer(400, &body.to_string()));

        let status = app.create_document(valid_capture()).await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason: "DOCUMENT_CAPTURE_MISSING",
                upstream_http_status: Some("400"),
                upstream_code: Some("20068"),
            },
        );
        assert_eq!(
            field_violations(&details),
            vec![(FILES.to_owned(), "DOCUMENT_CAPTURE_MISSING".to_owned())],
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_portuguese_code_as_a_string_still_brings_its_localized_message() {
    let app = spawn_app().await;
    app.script(answer(
        400,
        r#"{"Error":{"code":"20507","description":"O parâmetro subject.code é inválido."}}"#,
    ));

    let status = app.create_document(valid_capture()).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "SUBJECT_CODE_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("20507"),
        },
    );
    assert_eq!(
        pt_br_message(&details).as_deref(),
        Some("O parâmetro subject.code é inválido.")
    );
}

#[tokio::test]
async fn rate_limiting_is_resource_exhausted_with_the_retry_delay() {
    let app = spawn_app().await;
    let retry_after = |seconds: &str| FaultScript {
        headers: vec![("retry-after".to_owned(), seconds.to_owned())],
        ..answer(429, "")
    };
    let cases = [
        ("Retry-After: 7", Some(retry_after("7")), AUTH_FACE_MATCH, 7),
        ("no Retry-After", Some(answer(429, "")), AUTH_FACE_MATCH, 1),
        // The emulator's own 429: empty body, Retry-After: 2.
        ("the emulator's 429", None, "auth-rate-limited", 2),
    ];
    for (i, (case, fault, auth, seconds)) in cases.into_iter().enumerate() {
        if let Some(fault) = fault {
            app.script(fault);
        }

        let status = app
            .create_document(new_capture(auth, vec![small_png()]))
            .await
            .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::ResourceExhausted,
                reason: "UPSTREAM_RATE_LIMITED",
                upstream_http_status: Some("429"),
                upstream_code: None,
            },
        );
        let retry = details.retry_info().expect("RetryInfo");
        assert_eq!(
            retry.retry_delay,
            Some(Duration::from_secs(seconds)),
            "{case}"
        );
        assert_eq!(app.requests().len(), i + 1, "{case}: never retried");
    }
}

#[tokio::test]
async fn the_emulators_own_answers_map_like_the_page_says() {
    let app = spawn_app().await;
    let cases = [
        (
            "auth-jwt-expired",
            "400",
            "10507",
            Code::FailedPrecondition,
            "SELFIE_JWT_EXPIRED",
        ),
        (
            "auth-jwt-used",
            "400",
            "10508",
            Code::FailedPrecondition,
            "SELFIE_JWT_ALREADY_USED",
        ),
        (
            "auth-jwt-invalid",
            "400",
            "10506",
            Code::FailedPrecondition,
            "SELFIE_JWT_INVALID",
        ),
        (
            "auth-process-exists",
            "409",
            "20073",
            Code::AlreadyExists,
            "PROCESS_ALREADY_EXISTS",
        ),
        (
            "auth-internal-error",
            "500",
            "99999",
            Code::Internal,
            "UPSTREAM_INTERNAL_ERROR",
        ),
    ];
    for (auth, http, code, grpc, reason) in cases {
        let status = app
            .create_document(new_capture(auth, vec![small_png()]))
            .await
            .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: grpc,
                reason,
                upstream_http_status: Some(http),
                upstream_code: Some(code),
            },
        );
        match auth {
            // The state of the biometric process the caller named: its id
            // is the subject, and no field of the request is blamed.
            "auth-jwt-expired" | "auth-jwt-used" | "auth-jwt-invalid" => {
                let failure = details.precondition_failure().expect("PreconditionFailure");
                assert_eq!(failure.violations[0].r#type, "SELFIE_JWT");
                assert_eq!(failure.violations[0].subject, auth);
                assert!(details.bad_request().is_none(), "{auth}");
            }
            "auth-process-exists" => {
                assert_eq!(
                    details.resource_info().expect("ResourceInfo").resource_type,
                    "process"
                );
            }
            _ => {}
        }
        assert!(!status.message().contains("Internal failure!"), "{auth}");
    }
    assert_eq!(app.requests().len(), 5);
}

#[tokio::test]
async fn a_failed_create_is_never_retried() {
    let app = spawn_app().await;
    let faults = [
        answer(
            500,
            &id_api_error(99999, "Internal failure! Try again later"),
        ),
        answer(503, "<html>unavailable</html>"),
        FaultScript {
            headers: vec![("retry-after".into(), "0".into())],
            ..answer(429, "")
        },
        FaultScript {
            drop_connection: true,
            ..FaultScript::default()
        },
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let context = format!("{fault:?}");
        app.script(fault);

        app.create_document(valid_capture()).await.unwrap_err();

        assert_eq!(app.requests().len(), i + 1, "{context}");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_unavailable_without_a_retry_hint() {
    let app = spawn_app().await;
    app.script(FaultScript {
        drop_connection: true,
        ..FaultScript::default()
    });

    let status = app.create_document(valid_capture()).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_CONNECTION_LOST",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(details.retry_info().is_none(), "the process may exist");
}

/// A request with exactly these credentials in its metadata.
fn with_credentials(
    message: CreateDocumentProcessRequest,
    authorization: Option<&str>,
    apikey: Option<&str>,
) -> Request<CreateDocumentProcessRequest> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    if let Some(value) = apikey {
        request
            .metadata_mut()
            .insert("apikey", value.parse().unwrap());
    }
    request
}

async fn call(app: &TestApp, request: Request<CreateDocumentProcessRequest>) -> Result<(), Status> {
    app.document
        .clone()
        .create_document_process(request)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn missing_credentials_are_refused_naming_the_key_without_an_upstream_call() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {TOKEN}");
    let cases = [
        (Some(bearer.as_str()), None, "apikey"),
        (Some(bearer.as_str()), Some(""), "apikey"),
        (Some(bearer.as_str()), Some("   "), "apikey"),
        (None, Some(API_KEY), "authorization"),
        (Some("Bearer "), Some(API_KEY), "authorization"),
        (None, None, "authorization"),
    ];
    for (authorization, apikey, key) in cases {
        let status = call(
            &app,
            with_credentials(valid_capture(), authorization, apikey),
        )
        .await
        .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::Unauthenticated,
                // The vendor's reasons for the same condition (20001, 20002).
                reason: if key == "apikey" {
                    "API_KEY_MISSING"
                } else {
                    "ACCESS_TOKEN_MISSING"
                },
                upstream_http_status: None,
                upstream_code: None,
            },
        );
        let metadata = &details.error_info().unwrap().metadata;
        assert_eq!(metadata["metadataKey"], key, "{authorization:?} {apikey:?}");
        assert_eq!(metadata["origin"], "facade");
        assert!(status.message().contains(key), "{}", status.message());
    }
    assert!(
        app.requests().is_empty(),
        "no request may reach the upstream"
    );
}

#[tokio::test]
async fn credentials_are_checked_before_the_request_body() {
    let app = spawn_app().await;
    let mut invalid = valid_capture();
    invalid.subject = None;

    let status = call(
        &app,
        with_credentials(invalid, Some(&format!("Bearer {TOKEN}")), None),
    )
    .await
    .unwrap_err();

    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn credentials_the_upstream_rejects_are_mapped_from_its_answer() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {TOKEN}");
    let cases = [
        (
            bearer.as_str(),
            "unknown-apikey",
            "403",
            "10201",
            Code::Unauthenticated,
            "API_KEY_INVALID",
            Some("O AppKey informado é inválido."),
        ),
        (
            bearer.as_str(),
            "emulator-apikey-no-permission",
            "403",
            "30017",
            Code::PermissionDenied,
            "ACTION_NOT_PERMITTED",
            None,
        ),
        (
            "Bearer emulator-expired-token",
            API_KEY,
            "403",
            "10502",
            Code::Unauthenticated,
            "ACCESS_TOKEN_EXPIRED",
            Some("O token informado está expirado."),
        ),
        (
            "Bearer not-a-jwt",
            API_KEY,
            "403",
            "10501",
            Code::Unauthenticated,
            "ACCESS_TOKEN_INVALID",
            Some("O token informado é inválido."),
        ),
    ];
    for (i, (authorization, apikey, http, code, grpc, reason, localized)) in
        cases.into_iter().enumerate()
    {
        let status = call(
            &app,
            with_credentials(valid_capture(), Some(authorization), Some(apikey)),
        )
        .await
        .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: grpc,
                reason,
                upstream_http_status: Some(http),
                upstream_code: Some(code),
            },
        );
        assert_eq!(pt_br_message(&details).as_deref(), localized, "{reason}");
        assert!(!status.message().contains(apikey), "{}", status.message());
        assert!(
            !status
                .message()
                .contains(authorization.trim_start_matches("Bearer ")),
            "{}",
            status.message()
        );
        let sent = &app.requests()[i];
        assert_eq!(sent.header("apikey"), Some(apikey), "forwarded as is");
        assert_eq!(sent.header("authorization"), Some(authorization));
    }
}
