//! Pass-through credentials: missing or unusable metadata is refused by the
//! facade, naming the key, with no upstream call.

use tonic::{Code, Request};

use crate::helpers::{Expected, assert_status, set_cpf, spawn_app};

#[tokio::test]
async fn missing_authorization_is_unauthenticated_naming_the_key() {
    let app = spawn_app().await;
    let cases: [Option<&str>; 3] = [None, Some(""), Some("Bearer ")];
    for value in cases {
        let mut request = Request::new(set_cpf("proc-awaiting-document"));
        if let Some(value) = value {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }

        let status = app
            .process
            .clone()
            .set_process_document(request)
            .await
            .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::Unauthenticated,
                reason: "ACCESS_TOKEN_MISSING",
                upstream_http_status: None,
                upstream_code: None,
            },
        );
        assert_eq!(
            details.error_info().unwrap().metadata["metadataKey"],
            "authorization"
        );
        assert!(
            status.message().contains("authorization"),
            "{}",
            status.message()
        );
    }
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn credentials_are_checked_before_the_request_body() {
    let app = spawn_app().await;
    let mut invalid = set_cpf("");
    invalid.dui_value.clear();

    let status = app
        .process
        .clone()
        .set_process_document(Request::new(invalid))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unauthenticated);
}
