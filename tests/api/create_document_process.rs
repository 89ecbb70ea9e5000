//! CreateDocumentProcess succeeding, in both flows (new capture and reuse):
//! the response mapped field by field, and the exact request sent upstream.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost_types::{Struct, value::Kind};
use serde_json::json;
use tonic::Code;
use unico_facade::pb::identity_v1::{
    CreateDocumentProcessResponse, Document, DocumentType, DuiType, Gender, ProcessStatus, Purpose,
    Subject,
};

use crate::helpers::{
    API_KEY, AUTH_FACE_MATCH, CPF, TOKEN, answer, jpeg, new_capture, noisy, png, reuse, sent_files,
    small_png, spawn_app, valid_capture, webp,
};

/// Where the emulator says the captured images can be downloaded.
const FILE_URL_BASE: &str = "https://storage.emulator.invalid/documents";
const CNH: &str = "unico.moja.dictionary.br.cnh.v2.Cnh";
/// Another valid CPF, of a subject that owns no document in the emulator.
const OTHER_CPF: &str = "11144477735";

fn document_of(response: &CreateDocumentProcessResponse) -> &Document {
    response.document.as_ref().expect("a document")
}

fn string_field<'a>(content: &'a Struct, key: &str) -> &'a str {
    match content.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => s,
        other => panic!("content.{key} is not a string: {other:?}"),
    }
}

fn keys(content: &Struct) -> Vec<&str> {
    let mut keys: Vec<&str> = content.fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn a_new_capture_with_one_image_returns_the_process_and_what_was_read() {
    let app = spawn_app().await;
    let mut request = new_capture(AUTH_FACE_MATCH, vec![png(1280, 720, 4096)]);
    let subject = request.subject.as_mut().unwrap();
    subject.name = "Luke Skywalker".into();
    subject.birth_date = "2000-05-20".into();

    let response = app.create_document(request).await.expect("call succeeds");

    uuid::Uuid::parse_str(&response.id).expect("the process id is a UUID");
    assert_eq!(response.status, ProcessStatus::FinishedWithSuccess as i32);
    assert_eq!(response.status, 3);
    let document = document_of(&response);
    assert!(!document.id.is_empty());
    assert_eq!(document.r#type(), DocumentType::Cnh);
    assert_eq!(document.type_name, CNH);
    assert_eq!(document.cpf_match, Some(true));
    assert_eq!(document.face_match, Some(true));
    let content = document.content.as_ref().expect("content");
    assert_eq!(
        keys(content),
        [
            "categoria",
            "cpfNumero",
            "dataNascimento",
            "filiacao",
            "nomeCivil",
            "numero"
        ],
        "the vendor's camelCase keys are kept as they are"
    );
    assert_eq!(string_field(content, "cpfNumero"), CPF);
    assert_eq!(string_field(content, "nomeCivil"), "Luke Skywalker");
    assert_eq!(
        string_field(content, "dataNascimento"),
        "2000-05-20T00:00:00Z"
    );
    assert_eq!(string_field(content, "categoria"), "B");
    let Some(Kind::ListValue(parents)) = &content.fields["filiacao"].kind else {
        panic!("filiacao is a list");
    };
    assert_eq!(parents.values.len(), 2);
    assert_eq!(
        document.file_urls,
        [format!("{FILE_URL_BASE}/{}/front.jpg", document.id)]
    );
}

#[tokio::test]
async fn a_new_capture_takes_front_and_back_in_any_accepted_format() {
    let app = spawn_app().await;
    let cases = [
        (
            "JPEG + WebP",
            jpeg(1920, 1080, 5000),
            webp(1080, 1920, 6000),
        ),
        ("PNG + JPEG", png(640, 480, 3000), jpeg(480, 640, 3001)),
        ("WebP + PNG", webp(800, 600, 2500), png(4000, 3000, 2600)),
    ];
    for (i, (label, front, back)) in cases.into_iter().enumerate() {
        let (front, back) = (noisy(front, 2 * i as u64), noisy(back, 2 * i as u64 + 1));

        let response = app
            .create_document(new_capture(
                AUTH_FACE_MATCH,
                vec![front.clone(), back.clone()],
            ))
            .await
            .unwrap_or_else(|status| panic!("{label}: {status:?}"));

        let document = document_of(&response);
        assert_eq!(
            document.file_urls,
            [
                format!("{FILE_URL_BASE}/{}/front.jpg", document.id),
                format!("{FILE_URL_BASE}/{}/back.jpg", document.id),
            ],
            "{label}"
        );
        let sent = app.requests().pop().expect("a request upstream");
        assert_eq!(sent_files(&sent), [front, back], "{label}: bytes and order");
    }
    assert_eq!(app.requests().len(), 3);
}

#[tokio::test]
async fn the_upstream_receives_the_documented_new_capture_request() {
    let app = spawn_app().await;
    let front = noisy(jpeg(1280, 960, 20_000), 7);
    let back = noisy(png(1280, 960, 20_001), 8);
    let mut request = new_capture("auth-7c1e", vec![front.clone(), back.clone()]);
    request.subject = Some(Subject {
        dui_type: DuiType::BrCpf as i32,
        code: CPF.into(),
        name: "João D'Ávila-Souza".into(),
        gender: Gender::Male as i32,
        birth_date: "1990-02-28".into(),
        email: "joao@example.com.br".into(),
        phone: "+5511999998888".into(),
    });
    request.document.as_mut().unwrap().purpose = Purpose::CreditProcess as i32;
    request.subsidiary_id = "subsidiary-42".into();

    app.create_document(request).await.expect("call succeeds");

    let requests = app.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.raw_path, "/processes/v1");
    assert_eq!(sent.query, None);
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(sent.header("apikey"), Some(API_KEY));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.header("content-length"),
        Some(sent.body.len().to_string().as_str()),
        "the exact length, announced before the streamed body"
    );
    assert_eq!(sent.header("transfer-encoding"), None);
    assert_eq!(
        sent.json().expect("a JSON body"),
        json!({
            "subject": {
                "duiType": "DUI_TYPE_BR_CPF",
                "code": CPF,
                "name": "João D'Ávila-Souza",
                "gender": "M",
                "birthDate": "1990-02-28",
                "email": "joao@example.com.br",
                "phone": "5511999998888"
            },
            "document": {
                "purpose": "creditprocess",
                "authProcessId": "auth-7c1e",
                "files": [{"data": STANDARD.encode(&front)}, {"data": STANDARD.encode(&back)}]
            },
            "subsidiaryId": "subsidiary-42"
        })
    );
    assert_eq!(sent_files(sent), [front, back]);
}

#[tokio::test]
async fn empty_optional_fields_are_left_out_of_the_upstream_body() {
    let app = spawn_app().await;
    let image = small_png();
    let mut request = new_capture(AUTH_FACE_MATCH, vec![image.clone()]);
    let subject = request.subject.as_mut().unwrap();
    subject.name = String::new();
    subject.gender = Gender::Unspecified as i32;
    subject.birth_date = String::new();
    subject.email = "  ".into();
    subject.phone = String::new();
    request.subsidiary_id = " ".into();

    app.create_document(request).await.expect("call succeeds");

    assert_eq!(
        app.requests()[0].json().expect("a JSON body"),
        json!({
            "subject": {"duiType": "DUI_TYPE_BR_CPF", "code": CPF},
            "document": {
                "purpose": "onboarding",
                "authProcessId": AUTH_FACE_MATCH,
                "files": [{"data": STANDARD.encode(&image)}]
            }
        }),
        "no \"\" for what was not given, no subsidiaryId, no documentId"
    );
}

#[tokio::test]
async fn every_purpose_and_gender_is_spelled_as_the_upstream_spells_it() {
    let app = spawn_app().await;
    let cases = [
        (Purpose::CreditProcess, Gender::Male, "creditprocess", "M"),
        (Purpose::CarPurchase, Gender::Female, "carpurchase", "F"),
        (Purpose::PayByPaycheck, Gender::Male, "paybypaycheck", "M"),
        (Purpose::Onboarding, Gender::Female, "onboarding", "F"),
        (Purpose::Fgts, Gender::Male, "fgts", "M"),
    ];
    for (purpose, gender, purpose_sent, gender_sent) in cases {
        let mut request = valid_capture();
        request.document.as_mut().unwrap().purpose = purpose as i32;
        request.subject.as_mut().unwrap().gender = gender as i32;

        app.create_document(request).await.expect("call succeeds");

        let body = app.requests().pop().unwrap().json().unwrap();
        assert_eq!(body["document"]["purpose"], purpose_sent, "{purpose:?}");
        assert_eq!(body["subject"]["gender"], gender_sent, "{gender:?}");
    }
}

#[tokio::test]
async fn reusing_the_seeded_document_sends_its_id_and_no_images() {
    let app = spawn_app().await;
    let mut request = reuse(AUTH_FACE_MATCH, "doc-seeded-cnh");
    request.subject.as_mut().unwrap().gender = Gender::Female as i32;
    request.subsidiary_id = "subsidiary-42".into();

    let response = app.create_document(request).await.expect("call succeeds");

    assert_eq!(response.status, ProcessStatus::FinishedWithSuccess as i32);
    let document = document_of(&response);
    assert_eq!(document.id, "doc-seeded-cnh");
    assert_eq!(document.r#type(), DocumentType::Cnh);
    assert_eq!(document.type_name, CNH);
    assert_eq!(document.cpf_match, Some(true));
    assert_eq!(document.face_match, Some(true));
    let content = document.content.as_ref().expect("content");
    assert_eq!(string_field(content, "cpfNumero"), CPF);
    assert_eq!(string_field(content, "nomeCivil"), "Maria Emulada da Silva");
    assert_eq!(
        document.file_urls,
        [format!("{FILE_URL_BASE}/doc-seeded-cnh/front.jpg")]
    );
    let requests = app.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].raw_path, "/processes/v1");
    assert_eq!(
        requests[0].header("content-length"),
        Some(requests[0].body.len().to_string().as_str())
    );
    assert_eq!(requests[0].header("apikey"), Some(API_KEY));
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        requests[0].json().expect("a JSON body"),
        json!({
            "subject": {"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "gender": "F"},
            "document": {
                "purpose": "onboarding",
                "authProcessId": AUTH_FACE_MATCH,
                "documentId": "doc-seeded-cnh"
            },
            "subsidiaryId": "subsidiary-42"
        })
    );
}

#[tokio::test]
async fn a_document_captured_earlier_can_be_reused_by_its_subject() {
    let app = spawn_app().await;
    let mut capture = new_capture("auth-first", vec![small_png(), small_png()]);
    let subject = capture.subject.as_mut().unwrap();
    subject.code = OTHER_CPF.into();
    subject.name = "Leia Organa".into();
    let captured = app.create_document(capture).await.expect("capture");
    let captured = document_of(&captured).clone();

    let mut again = reuse("auth-second", &captured.id);
    again.subject.as_mut().unwrap().code = OTHER_CPF.into();
    let reused = app.create_document(again).await.expect("reuse");

    let document = document_of(&reused);
    assert_eq!(document.id, captured.id);
    assert_eq!(document.content, captured.content);
    assert_eq!(document.file_urls, captured.file_urls);
    assert_eq!(
        string_field(document.content.as_ref().unwrap(), "nomeCivil"),
        "Leia Organa"
    );
    let requests = app.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].json().unwrap(),
        json!({
            "subject": {"duiType": "DUI_TYPE_BR_CPF", "code": OTHER_CPF},
            "document": {
                "purpose": "onboarding",
                "authProcessId": "auth-second",
                "documentId": captured.id
            }
        })
    );
}

#[tokio::test]
async fn reuse_by_another_subject_is_refused_upstream() {
    let app = spawn_app().await;
    let mut request = reuse(AUTH_FACE_MATCH, "doc-seeded-cnh");
    request.subject.as_mut().unwrap().code = OTHER_CPF.into();

    let status = app.create_document(request).await.unwrap_err();

    let info = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(info.metadata["upstreamCode"], "99989");
    assert_eq!(info.metadata["upstreamHttpStatus"], "400");
    let requests = app.requests();
    assert_eq!(requests.len(), 1, "refused by the upstream, not locally");
    let body = requests[0].json().unwrap();
    assert_eq!(body["subject"]["code"], OTHER_CPF);
    assert_eq!(body["document"]["documentId"], "doc-seeded-cnh");
}

#[tokio::test]
async fn reuse_of_another_subjects_document_is_blamed_on_the_callers_document_id() {
    let app = spawn_app().await;
    let mut request = reuse(AUTH_FACE_MATCH, "doc-seeded-cnh");
    request.subject.as_mut().unwrap().code = OTHER_CPF.into();

    let status = app.create_document(request).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert_eq!(details.error_info().unwrap().reason, "DOCUMENT_ID_INVALID");
    assert_eq!(
        details.error_info().unwrap().metadata["upstreamCode"],
        "99989"
    );
    assert_eq!(
        crate::helpers::field_violations(&details),
        [(
            "document.reuse.document_id".to_owned(),
            "DOCUMENT_ID_INVALID".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_face_mismatch_is_false_not_absent() {
    let app = spawn_app().await;

    let response = app
        .create_document(new_capture("auth-face-mismatch", vec![small_png()]))
        .await
        .expect("call succeeds");

    let document = document_of(&response);
    assert_eq!(document.face_match, Some(false));
    assert_eq!(document.cpf_match, Some(true));
    assert_eq!(response.status, ProcessStatus::FinishedWithSuccess as i32);
}

#[tokio::test]
async fn a_document_of_another_cpf_finishes_with_failure() {
    let app = spawn_app().await;
    let mut request = valid_capture();
    request.subject.as_mut().unwrap().name = "Nome Divergente".into();

    let response = app.create_document(request).await.expect("call succeeds");

    assert_eq!(response.status, ProcessStatus::FinishedWithFailure as i32);
    let document = document_of(&response);
    assert_eq!(document.cpf_match, Some(false));
    assert_eq!(document.face_match, Some(true));
}

#[tokio::test]
async fn an_unknown_status_and_document_type_survive() {
    let app = spawn_app().await;

    let response = app
        .create_document(new_capture("auth-unknown-type", vec![small_png()]))
        .await
        .expect("new values are not fatal");

    assert_eq!(response.status, 7, "the vendor's number, unchanged");
    assert!(ProcessStatus::try_from(response.status).is_err());
    let document = document_of(&response);
    assert_eq!(document.r#type, DocumentType::Unspecified as i32);
    assert_eq!(
        document.type_name,
        "unico.moja.dictionary.br.future.v9.Future"
    );
}

#[tokio::test]
async fn short_type_names_absent_flags_and_nested_content_are_kept() {
    let app = spawn_app().await;
    let cases = [
        ("RG", DocumentType::Rg),
        ("CNH", DocumentType::Cnh),
        ("CIN", DocumentType::Cin),
        (
            "unico.moja.dictionary.br.passaporte.v1.Passaporte",
            DocumentType::Passaporte,
        ),
        ("unico.moja.dictionary.br.rg.v2.Rg", DocumentType::Rg),
        ("UNKNOWN", DocumentType::Unspecified),
    ];
    for (type_name, expected) in cases {
        app.script(answer(
            200,
            &json!({
                "id": "p-1",
                "status": 2,
                "newTopLevelField": true,
                "document": {
                    "id": "d-1",
                    "type": type_name,
                    "content": {"nested": {"n": 1.5, "ok": true, "none": null}, "list": ["a", 2]},
                    "fileUrls": [],
                    "newDocumentField": {}
                }
            })
            .to_string(),
        ));

        let response = app
            .create_document(valid_capture())
            .await
            .unwrap_or_else(|status| panic!("{type_name}: {status:?}"));

        assert_eq!(response.id, "p-1");
        assert_eq!(response.status, ProcessStatus::Divergence as i32);
        let document = document_of(&response);
        assert_eq!(document.r#type(), expected, "{type_name}");
        assert_eq!(document.type_name, type_name);
        assert_eq!(document.cpf_match, None, "absent stays absent");
        assert_eq!(document.face_match, None, "absent stays absent");
        assert!(document.file_urls.is_empty());
        let content = document.content.as_ref().unwrap();
        assert_eq!(keys(content), ["list", "nested"]);
        let Some(Kind::StructValue(nested)) = &content.fields["nested"].kind else {
            panic!("nested is a Struct");
        };
        assert_eq!(nested.fields["n"].kind, Some(Kind::NumberValue(1.5)));
        assert_eq!(nested.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(nested.fields["none"].kind, Some(Kind::NullValue(0)));
        let Some(Kind::ListValue(list)) = &content.fields["list"].kind else {
            panic!("list is a ListValue");
        };
        assert_eq!(
            list.values
                .iter()
                .map(|v| v.kind.clone())
                .collect::<Vec<_>>(),
            [
                Some(Kind::StringValue("a".into())),
                Some(Kind::NumberValue(2.0))
            ]
        );
    }
}

#[tokio::test]
async fn a_process_without_a_document_has_none() {
    let app = spawn_app().await;
    app.script(answer(200, r#"{"id":"p-2","status":"5"}"#));

    let response = app.create_document(valid_capture()).await.expect("parses");

    assert_eq!(response.id, "p-2");
    assert_eq!(
        response.status,
        ProcessStatus::FinishedWithFailure as i32,
        "a numeric string is read as the number"
    );
    assert_eq!(response.document, None);
}

#[tokio::test]
async fn a_bare_token_is_sent_with_the_bearer_scheme() {
    let app = spawn_app().await;
    let mut request = tonic::Request::new(valid_capture());
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());
    request
        .metadata_mut()
        .insert("apikey", API_KEY.parse().unwrap());

    app.document
        .clone()
        .create_document_process(request)
        .await
        .expect("call succeeds");

    let sent = &app.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(sent.header("apikey"), Some(API_KEY));
}
