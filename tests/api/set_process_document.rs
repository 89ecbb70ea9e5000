//! SetProcessDocument succeeding, and what was sent upstream.

use unico_facade::pb::identity_v1::{DuiType, SetProcessDocumentRequest};

use crate::helpers::{CPF, TOKEN, spawn_app};

#[tokio::test]
async fn setting_a_document_on_an_awaiting_process_returns_the_process() {
    let app = spawn_app().await;

    let response = app
        .set_document(SetProcessDocumentRequest {
            process_id: "proc-awaiting-document".into(),
            dui_type: DuiType::BrCpf as i32,
            dui_value: CPF.into(),
        })
        .await
        .expect("call succeeds");

    let process = response.process.expect("process");
    assert_eq!(process.id, "proc-awaiting-document");
    let person = process.person.expect("person");
    assert_eq!(person.dui_type(), DuiType::BrCpf);
    assert_eq!(person.dui_type_name, "DUI_TYPE_BR_CPF");
    assert_eq!(person.dui_value, CPF);
}

#[tokio::test]
async fn the_upstream_receives_the_documented_request() {
    let app = spawn_app().await;

    app.set_document(SetProcessDocumentRequest {
        process_id: "awaiting-curp".into(),
        dui_type: DuiType::MxCurp as i32,
        dui_value: "GODE561231HDFABC09".into(),
    })
    .await
    .expect("call succeeds");

    let requests = app.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.raw_path, "/client/v1/process/awaiting-curp/document");
    assert_eq!(sent.query, None);
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.header("apikey"),
        None,
        "the IDCloud API takes no APIKEY"
    );
    assert_eq!(
        sent.json().expect("JSON body"),
        serde_json::json!({"duiType": "DUI_TYPE_MX_CURP", "duiValue": "GODE561231HDFABC09"})
    );
}

#[tokio::test]
async fn a_bare_token_is_sent_with_the_bearer_scheme() {
    let app = spawn_app().await;
    let mut request = tonic::Request::new(crate::helpers::set_cpf("awaiting-bare"));
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());

    app.process
        .clone()
        .set_process_document(request)
        .await
        .expect("call succeeds");

    assert_eq!(
        app.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn unknown_fields_and_types_in_the_answer_are_passed_on_not_fatal() {
    let app = spawn_app().await;
    app.script(crate::helpers::answer(
        200,
        r#"{"process":{"id":"p-9","state":"NEW_FIELD","person":{"duiType":"DUI_TYPE_XX_FUTURE","duiValue":"123","extra":1}},"more":true}"#,
    ));

    let process = app
        .set_document(crate::helpers::set_cpf("p-9"))
        .await
        .expect("unknown fields are ignored")
        .process
        .unwrap();

    let person = process.person.unwrap();
    assert_eq!(person.dui_type(), DuiType::Unspecified);
    assert_eq!(person.dui_type_name, "DUI_TYPE_XX_FUTURE");
}
