//! Requests the facade refuses itself: the same reason and upstream code the
//! vendor would give, every violation at once, and no upstream call.

use tonic::Code;
use unico_facade::pb::identity_v1::{DuiType, SetProcessDocumentRequest};

use crate::helpers::{CPF, Expected, assert_status, field_violations, spawn_app};

fn request(process_id: &str, dui_type: i32, dui_value: &str) -> SetProcessDocumentRequest {
    SetProcessDocumentRequest {
        process_id: process_id.into(),
        dui_type,
        dui_value: dui_value.into(),
    }
}

#[tokio::test]
async fn each_local_rule_answers_like_the_upstream_without_calling_it() {
    let app = spawn_app().await;
    let cpf = DuiType::BrCpf as i32;
    let cases = [
        (request("", cpf, CPF), "process_id", "PROCESS_ID_INVALID"),
        (request("..", cpf, CPF), "process_id", "PROCESS_ID_INVALID"),
        (
            request("a\tb", cpf, CPF),
            "process_id",
            "PROCESS_ID_INVALID",
        ),
        (
            request(&"p".repeat(10 * 1024), cpf, CPF),
            "process_id",
            "PROCESS_ID_TOO_LONG",
        ),
        (request("p", 0, CPF), "dui_type", "DUI_TYPE_REQUIRED"),
        (request("p", 42, CPF), "dui_type", "DUI_TYPE_INVALID"),
        (
            request("p", DuiType::NgNin as i32, CPF),
            "dui_type",
            "DUI_TYPE_NOT_ACCEPTED",
        ),
        (
            request("p", DuiType::ArDni as i32, CPF),
            "dui_type",
            "DUI_TYPE_NOT_ACCEPTED",
        ),
        (
            request("p", DuiType::IdNik as i32, CPF),
            "dui_type",
            "DUI_TYPE_NOT_ACCEPTED",
        ),
        (request("p", cpf, ""), "dui_value", "DUI_VALUE_REQUIRED"),
        (request("p", cpf, "  "), "dui_value", "DUI_VALUE_REQUIRED"),
        (
            request("p", cpf, &"1".repeat(321)),
            "dui_value",
            "DUI_VALUE_TOO_LONG",
        ),
        (
            request("p", cpf, "529.982.247-25"),
            "dui_value",
            "DUI_VALUE_FORMATTED",
        ),
        (
            request("p", cpf, "529 982 247 25"),
            "dui_value",
            "DUI_VALUE_FORMATTED",
        ),
    ];
    for (req, field, reason) in cases {
        let status = app.set_document(req).await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason,
                upstream_http_status: None,
                upstream_code: Some("3"),
            },
        );
        assert_eq!(
            field_violations(&details),
            vec![(field.to_owned(), reason.to_owned())]
        );
        assert_eq!(details.error_info().unwrap().metadata["origin"], "facade");
        assert!(
            !status.message().contains("529"),
            "no personal data in {:?}",
            status.message()
        );
    }
    assert!(
        app.requests().is_empty(),
        "no request may reach the upstream"
    );
}

#[tokio::test]
async fn the_limits_themselves_are_accepted() {
    let app = spawn_app().await;
    let longest = "1".repeat(320);
    let id = format!("awaiting-{}", "p".repeat(256 - "awaiting-".len()));

    app.set_document(request(&id, DuiType::UsSsn as i32, &longest))
        .await
        .expect("320 characters and a 256-character id are allowed");

    assert_eq!(app.requests().len(), 1);
}

#[tokio::test]
async fn several_violations_come_back_together() {
    let app = spawn_app().await;

    let status = app.set_document(request("", 0, "")).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "PROCESS_ID_INVALID",
            upstream_http_status: None,
            upstream_code: Some("3"),
        },
    );
    assert_eq!(
        field_violations(&details),
        vec![
            ("process_id".to_owned(), "PROCESS_ID_INVALID".to_owned()),
            ("dui_type".to_owned(), "DUI_TYPE_REQUIRED".to_owned()),
            ("dui_value".to_owned(), "DUI_VALUE_REQUIRED".to_owned()),
        ]
    );
    assert!(app.requests().is_empty());
}
