//! Every row of the set-process-document error table, from an upstream
//! answer: the gRPC code, the ErrorInfo reason and metadata, and the detail.

use std::time::Duration;

use tonic::Code;
use unico_facade::emulator::FaultScript;

use crate::helpers::{
    Expected, answer, assert_status, closed_port, field_violations, millis, set_cpf, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn process_states_are_failed_preconditions_naming_the_process() {
    let app = spawn_app().await;
    let cases = [
        ("proc-document-set", "DOCUMENT_ALREADY_SET", "PROCESS_STATE"),
        ("proc-expired", "PROCESS_EXPIRED", "PROCESS_STATE"),
        ("proc-finished", "PROCESS_ALREADY_FINISHED", "PROCESS_STATE"),
        (
            "proc-not-awaiting-document",
            "PROCESS_NOT_AWAITING_DOCUMENT",
            "PROCESS_STATE",
        ),
        (
            "proc-flow-requires-document",
            "FLOW_REQUIRES_DOCUMENT",
            "PROCESS_FLOW",
        ),
    ];
    for (process_id, reason, kind) in cases {
        let status = app.set_document_of(process_id).await.unwrap_err();
        let details = assert_status(
            &status,
            Expected {
                code: Code::FailedPrecondition,
                reason,
                upstream_http_status: Some("400"),
                upstream_code: Some("9"),
            },
        );
        let failure = details.precondition_failure().expect("PreconditionFailure");
        assert_eq!(failure.violations[0].r#type, kind);
        assert_eq!(failure.violations[0].subject, process_id);
    }
}

#[tokio::test]
async fn a_second_document_on_the_same_process_is_refused() {
    let app = spawn_app().await;
    app.set_document_of("proc-awaiting-document")
        .await
        .expect("first call sets it");

    let status = app
        .set_document_of("proc-awaiting-document")
        .await
        .unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::FailedPrecondition,
            reason: "DOCUMENT_ALREADY_SET",
            upstream_http_status: Some("400"),
            upstream_code: Some("9"),
        },
    );
}

#[tokio::test]
async fn an_unknown_process_is_not_found_with_resource_info() {
    let app = spawn_app().await;

    let status = app.set_document_of("no-such-process").await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::NotFound,
            reason: "PROCESS_NOT_FOUND",
            upstream_http_status: Some("404"),
            upstream_code: Some("5"),
        },
    );
    let resource = details.resource_info().expect("ResourceInfo");
    assert_eq!(resource.resource_type, "process");
    assert_eq!(resource.resource_name, "no-such-process");
}

#[tokio::test]
async fn a_404_without_a_body_is_still_process_not_found() {
    let app = spawn_app().await;
    app.script(answer(404, ""));

    let status = app.set_document_of("p-1").await.unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::NotFound,
            reason: "PROCESS_NOT_FOUND",
            upstream_http_status: Some("404"),
            upstream_code: None,
        },
    );
}

#[tokio::test]
async fn upstream_field_errors_are_invalid_arguments_on_the_grpc_field() {
    let app = spawn_app().await;
    let cases = [
        ("process id is invalid", "PROCESS_ID_INVALID", "process_id"),
        ("dui_type is required", "DUI_TYPE_REQUIRED", "dui_type"),
        ("dui_value is required", "DUI_VALUE_REQUIRED", "dui_value"),
        (
            "dui_value exceeds maximum length",
            "DUI_VALUE_TOO_LONG",
            "dui_value",
        ),
    ];
    for (message, reason, field) in cases {
        app.script(answer(
            400,
            &format!(r#"{{"code":3,"message":"{message}","details":[]}}"#),
        ));

        let status = app.set_document_of("p-1").await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason,
                upstream_http_status: Some("400"),
                upstream_code: Some("3"),
            },
        );
        assert_eq!(
            field_violations(&details),
            vec![(field.to_owned(), reason.to_owned())]
        );
    }
}

#[tokio::test]
async fn an_expired_or_garbled_token_is_unauthenticated() {
    let app = spawn_app().await;
    let cases = [
        ("emulator-expired-token", "ACCESS_TOKEN_EXPIRED"),
        ("not-a-jwt", "ACCESS_TOKEN_INVALID"),
    ];
    for (token, reason) in cases {
        let mut request = tonic::Request::new(set_cpf("proc-awaiting-document"));
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());

        let status = app
            .process
            .clone()
            .set_process_document(request)
            .await
            .unwrap_err();

        assert_status(
            &status,
            Expected {
                code: Code::Unauthenticated,
                reason,
                upstream_http_status: Some("401"),
                upstream_code: None,
            },
        );
        assert!(!status.message().contains(token));
    }
}

#[tokio::test]
async fn rate_limiting_without_retry_after_carries_the_default_delay() {
    let app = spawn_app().await;
    // The page: "No detailed error code: only the HTTP status" (no Retry-After).

    let status = app.set_document_of("proc-rate-limited").await.unwrap_err();

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
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn retry_after_as_an_http_date_and_a_default_when_absent() {
    let app = spawn_app().await;
    let in_a_minute =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
    app.script(FaultScript {
        headers: vec![("retry-after".into(), in_a_minute)],
        ..answer(429, "")
    });
    let status = app.set_document_of("p-1").await.unwrap_err();
    let delay = status.get_error_details_delay();
    assert!(
        delay > Duration::from_secs(55) && delay <= Duration::from_secs(60),
        "{delay:?}"
    );

    app.script(answer(429, ""));
    let status = app.set_document_of("p-1").await.unwrap_err();
    assert_eq!(status.get_error_details_delay(), Duration::from_secs(1));
}

trait RetryDelay {
    fn get_error_details_delay(&self) -> Duration;
}

impl RetryDelay for tonic::Status {
    fn get_error_details_delay(&self) -> Duration {
        use tonic_types::StatusExt;
        self.get_error_details()
            .retry_info()
            .and_then(|r| r.retry_delay)
            .expect("RetryInfo with a delay")
    }
}

#[tokio::test]
async fn an_internal_upstream_failure_is_internal() {
    let app = spawn_app().await;

    let status = app
        .set_document_of("proc-internal-error")
        .await
        .unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::Internal,
            reason: "UPSTREAM_INTERNAL_ERROR",
            upstream_http_status: Some("500"),
            upstream_code: Some("99999"),
        },
    );
    assert!(
        !status.message().contains("Internal failure!"),
        "no raw upstream text"
    );
}

#[tokio::test]
async fn gateway_failures_are_unavailable_whatever_the_body() {
    let app = spawn_app().await;
    let huge_page = format!("<html><body>{}</body></html>", "x".repeat(6 * 1024 * 1024));
    let cases = [
        (
            502,
            "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
        ),
        (503, huge_page),
        (504, String::new()),
    ];
    for (http_status, body) in cases {
        app.script(FaultScript {
            headers: vec![("content-type".into(), "text/html".into())],
            ..answer(http_status, &body)
        });

        let status = app.set_document_of("p-1").await.unwrap_err();

        assert_status(
            &status,
            Expected {
                code: Code::Unavailable,
                reason: "UPSTREAM_UNAVAILABLE",
                upstream_http_status: Some(&http_status.to_string()),
                upstream_code: None,
            },
        );
        assert!(status.message().len() < 200);
    }
}

#[tokio::test]
async fn a_code_under_an_unexpected_status_is_mapped_by_its_code() {
    let app = spawn_app().await;
    app.script(answer(500, r#"{"code":9,"message":"process expired"}"#));

    let status = app.set_document_of("p-1").await.unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::FailedPrecondition,
            reason: "PROCESS_EXPIRED",
            upstream_http_status: Some("500"),
            upstream_code: Some("9"),
        },
    );
}

#[tokio::test]
async fn an_unknown_code_falls_back_on_the_http_status_keeping_both() {
    let app = spawn_app().await;
    app.script(answer(400, r#"{"code":42,"message":"something new"}"#));
    let status = app.set_document_of("p-1").await.unwrap_err();
    assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "UPSTREAM_INVALID_ARGUMENT",
            upstream_http_status: Some("400"),
            upstream_code: Some("42"),
        },
    );

    app.script(answer(418, r#"{"code":42}"#));
    let status = app.set_document_of("p-1").await.unwrap_err();
    assert_status(
        &status,
        Expected {
            code: Code::Unknown,
            reason: "UPSTREAM_UNEXPECTED_ANSWER",
            upstream_http_status: Some("418"),
            upstream_code: Some("42"),
        },
    );
}

#[tokio::test]
async fn an_unparseable_success_is_internal() {
    let app = spawn_app().await;
    for body in ["not json", r#"{"process": 5}"#, ""] {
        app.script(answer(200, body));

        let status = app.set_document_of("p-1").await.unwrap_err();

        assert_status(
            &status,
            Expected {
                code: Code::Internal,
                reason: "UPSTREAM_RESPONSE_UNPARSEABLE",
                upstream_http_status: Some("200"),
                upstream_code: None,
            },
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_safe_to_retry() {
    let closed = closed_port().await;
    let app = spawn_app_with(|settings| {
        settings.upstream = unico_facade::config::UpstreamTarget::Vendor {
            environment: unico_facade::upstream::Environment::Sandbox,
            hosts: unico_facade::upstream::UpstreamHosts::single(&format!("http://{closed}"))
                .unwrap(),
        };
    })
    .await;

    let status = app.set_document_of("p-1").await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_UNREACHABLE",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(details.retry_info().is_some());
}

#[tokio::test]
async fn a_dropped_connection_is_unavailable_without_a_retry_hint() {
    let app = spawn_app().await;
    app.script(FaultScript {
        drop_connection: true,
        ..FaultScript::default()
    });

    let status = app
        .set_document_of("proc-awaiting-document")
        .await
        .unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_CONNECTION_LOST",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(
        details.retry_info().is_none(),
        "the request may have been processed"
    );
}

#[tokio::test]
async fn a_stalled_upstream_ends_in_deadline_exceeded_within_the_callers_deadline() {
    let app = spawn_app().await;
    app.script(FaultScript {
        delay_ms: Some(5_000),
        ..FaultScript::default()
    });
    let request = crate::helpers::authorized(set_cpf("proc-awaiting-document"));

    let (status, elapsed) = app.set_document_failing_within(request, millis(300)).await;

    assert_status(
        &status,
        Expected {
            code: Code::DeadlineExceeded,
            reason: "UPSTREAM_TIMEOUT",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(elapsed < millis(2_000), "{elapsed:?}");
}

#[tokio::test]
async fn without_a_caller_deadline_the_configured_timeout_applies() {
    let app = spawn_app_with(|settings| settings.upstream_timeout = millis(200)).await;
    app.script(FaultScript {
        delay_ms: Some(5_000),
        ..FaultScript::default()
    });

    let status = app
        .set_document_of("proc-awaiting-document")
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::DeadlineExceeded);
}
