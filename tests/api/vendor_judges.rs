//! Never refuse what the vendor accepts: inputs the reference pages give no
//! rule against go through the facade and reach the upstream exactly as the
//! vendor expects them (method, path, the whole JSON body); where the vendor
//! then refuses, its answer is mapped. And a local refusal whose vendor code
//! no page states says so in ErrorInfo (`upstreamCodeAssumed`).

use base64::Engine as _;
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt as _;
use unico_facade::{
    emulator::{EmulatedEndpoint, FaultScript, RecordedRequest},
    pb::identity_v1::{CreateDocumentProcessRequest, DuiType, SetProcessDocumentRequest, Subject},
};

use crate::helpers::{
    AUTH_FACE_MATCH, CPF, Expected, TestApp, answer, assert_status, field_violations, new_capture,
    small_png, spawn_app,
};

/// A one-image capture for `subject`.
fn capture_for(subject: Subject) -> CreateDocumentProcessRequest {
    let mut request = new_capture(AUTH_FACE_MATCH, vec![small_png()]);
    request.subject = Some(subject);
    request
}

fn cpf_with(edit: impl FnOnce(&mut Subject)) -> Subject {
    let mut subject = Subject {
        dui_type: DuiType::BrCpf as i32,
        code: CPF.to_owned(),
        ..Subject::default()
    };
    edit(&mut subject);
    subject
}

/// The exact body the page's example has for a one-image new capture, with
/// this `subject`.
fn expected_body(subject: Value) -> Value {
    json!({
        "subject": subject,
        "document": {
            "purpose": "onboarding",
            "authProcessId": AUTH_FACE_MATCH,
            "files": [{ "data": base64::engine::general_purpose::STANDARD.encode(small_png()) }],
        }
    })
}

/// The one request the facade sent upstream since the last call.
fn the_one_create_sent(app: &TestApp, seen: &mut usize) -> RecordedRequest {
    let requests = app.requests();
    assert_eq!(requests.len(), *seen + 1, "exactly one upstream call");
    *seen += 1;
    let sent = requests.last().cloned().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.raw_path, "/processes/v1");
    assert_eq!(sent.query, None);
    assert_eq!(sent.endpoint, Some(EmulatedEndpoint::CreateDocumentProcess));
    sent
}

#[tokio::test]
async fn inputs_the_pages_do_not_forbid_reach_the_vendor_as_it_expects_them() {
    let app = spawn_app().await;
    let tomorrow = {
        // A same-day birth east of UTC is "tomorrow" in UTC: not the
        // facade's to refuse.
        let d = time::OffsetDateTime::now_utc().date().next_day().unwrap();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let long_name = "Ana ".repeat(60) + "Silva";
    let cases: Vec<(&str, Subject, Value)> = vec![
        (
            "an E.164 phone with + is sent as the page's digits",
            cpf_with(|s| s.phone = "+5511999998888".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "phone": "5511999998888"}),
        ),
        (
            "a phone of digits only, as the vendor's examples",
            cpf_with(|s| s.phone = "5511999998888".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "phone": "5511999998888"}),
        ),
        (
            "a CURP with the sex marker X (issued since 2023)",
            Subject {
                dui_type: DuiType::MxCurp as i32,
                code: "GODE561231XDFRRN09".into(),
                ..Subject::default()
            },
            json!({"duiType": "DUI_TYPE_MX_CURP", "code": "GODE561231XDFRRN09"}),
        ),
        (
            "a CURP in lower case is sent upper-cased",
            Subject {
                dui_type: DuiType::MxCurp as i32,
                code: "gode561231hdfrrn09".into(),
                ..Subject::default()
            },
            json!({"duiType": "DUI_TYPE_MX_CURP", "code": "GODE561231HDFRRN09"}),
        ),
        (
            "an old DNI of 6 digits",
            Subject {
                dui_type: DuiType::ArDni as i32,
                code: "123456".into(),
                ..Subject::default()
            },
            json!({"duiType": "DUI_TYPE_AR_DNI", "code": "123456"}),
        ),
        (
            "a name with an acute accent as apostrophe",
            cpf_with(|s| s.name = "Maria Sant´Anna".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "name": "Maria Sant´Anna"}),
        ),
        (
            "a name with a backtick and curly quotes",
            cpf_with(|s| s.name = "Ana D`Ávila ‘Neta’".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "name": "Ana D`Ávila ‘Neta’"}),
        ),
        (
            "a name with digits and a comma",
            cpf_with(|s| s.name = "Pedro II, Imperador".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "name": "Pedro II, Imperador"}),
        ),
        (
            "a name over 200 characters",
            cpf_with(|s| s.name = long_name.clone()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "name": long_name}),
        ),
        (
            "a birth date tomorrow in UTC",
            cpf_with(|s| s.birth_date = tomorrow.clone()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "birthDate": tomorrow}),
        ),
        (
            "a birth date before 1900",
            cpf_with(|s| s.birth_date = "1899-12-31".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "birthDate": "1899-12-31"}),
        ),
        (
            "an e-mail with a dotless domain",
            cpf_with(|s| s.email = "luke@rebellion".into()),
            json!({"duiType": "DUI_TYPE_BR_CPF", "code": CPF, "email": "luke@rebellion"}),
        ),
    ];
    let mut seen = 0;
    for (case, subject, sent_subject) in cases {
        app.create_document(capture_for(subject))
            .await
            .unwrap_or_else(|status| panic!("{case}: {status:?}"));

        let sent = the_one_create_sent(&app, &mut seen);
        assert_eq!(
            sent.json().expect("a JSON body"),
            expected_body(sent_subject),
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_auth_process_id_of_any_length_is_the_vendors_to_judge() {
    let app = spawn_app().await;
    let long_id = "a".repeat(300);

    app.create_document(new_capture(&long_id, vec![small_png()]))
        .await
        .expect("the emulator takes any non-empty id");

    let sent = the_one_create_sent(&app, &mut 0);
    assert_eq!(sent.json().unwrap()["document"]["authProcessId"], long_id);
}

#[tokio::test]
async fn the_vendors_refusal_of_a_forwarded_value_is_mapped_to_its_field() {
    let app = spawn_app().await;
    // 12 digits: E.164, so forwarded; the vendor wants 13 (its 20021).
    let short_phone = capture_for(cpf_with(|s| s.phone = "+551199998888".into()));

    let status = app.create_document(short_phone).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "SUBJECT_PHONE_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("20021"),
        },
    );
    assert_eq!(
        field_violations(&details),
        [(
            "subject.phone".to_owned(),
            "SUBJECT_PHONE_INVALID".to_owned()
        )]
    );
    let info = details.error_info().unwrap();
    assert_eq!(info.metadata["origin"], "upstream");
    assert!(!info.metadata.contains_key("upstreamCodeAssumed"));
    let sent = the_one_create_sent(&app, &mut 0);
    assert_eq!(sent.json().unwrap()["subject"]["phone"], "551199998888");

    // A name the facade forwards and the vendor finds invalid characters in.
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        ..answer(
            400,
            r#"{"error":{"code":"20509","description":"The subject.name field is invalid."}}"#,
        )
    });
    let status = app
        .create_document(capture_for(cpf_with(|s| s.name = "Ana 2ª".into())))
        .await
        .unwrap_err();
    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "SUBJECT_NAME_INVALID",
            upstream_http_status: Some("400"),
            upstream_code: Some("20509"),
        },
    );
    assert_eq!(
        field_violations(&details),
        [("subject.name".to_owned(), "SUBJECT_NAME_INVALID".to_owned())]
    );
    let sent = the_one_create_sent(&app, &mut 1);
    assert_eq!(sent.json().unwrap()["subject"]["name"], "Ana 2ª");
}

#[tokio::test]
async fn what_is_surely_invalid_is_still_refused_locally() {
    let app = spawn_app().await;
    let cases = [
        (
            "markup in a name",
            cpf_with(|s| s.name = "<script>".into()),
            "subject.name",
            "SUBJECT_NAME_INVALID",
            "20509",
        ),
        (
            "a control character in a name",
            cpf_with(|s| s.name = "Ana\u{7}".into()),
            "subject.name",
            "SUBJECT_NAME_INVALID",
            "20509",
        ),
        (
            "a formatted phone",
            cpf_with(|s| s.phone = "+55 (11) 99999-8888".into()),
            "subject.phone",
            "SUBJECT_PHONE_INVALID",
            "20021",
        ),
        (
            "a phone of 16 digits",
            cpf_with(|s| s.phone = "5511999998888123".into()),
            "subject.phone",
            "SUBJECT_PHONE_INVALID",
            "20021",
        ),
        (
            "a CURP with sex marker Z",
            Subject {
                dui_type: DuiType::MxCurp as i32,
                code: "GODE561231ZDFRRN09".into(),
                ..Subject::default()
            },
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a DNI of 5 digits",
            Subject {
                dui_type: DuiType::ArDni as i32,
                code: "12345".into(),
                ..Subject::default()
            },
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "February 30",
            cpf_with(|s| s.birth_date = "2000-02-30".into()),
            "subject.birth_date",
            "SUBJECT_BIRTH_DATE_INVALID",
            "20019",
        ),
    ];
    for (case, subject, field, reason, code) in cases {
        let status = app.create_document(capture_for(subject)).await.unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason,
                upstream_http_status: None,
                upstream_code: Some(code),
            },
        );
        assert_eq!(
            field_violations(&details),
            [(field.to_owned(), reason.to_owned())],
            "{case}"
        );
    }
    assert!(app.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn an_assumed_upstream_code_is_marked_and_a_documented_one_is_not() {
    let app = spawn_app().await;
    let assumed_of = |status: &tonic::Status| {
        status
            .get_error_details()
            .error_info()
            .expect("ErrorInfo")
            .metadata
            .get("upstreamCodeAssumed")
            .cloned()
    };
    let three_files = new_capture(AUTH_FACE_MATCH, vec![small_png(), small_png(), small_png()]);
    let no_type = capture_for(Subject {
        dui_type: 0,
        code: CPF.into(),
        ..Subject::default()
    });
    let bad_cpf = capture_for(cpf_with(|s| s.code = "52998224724".into()));
    let cases = [
        ("more than two files", three_files, "99989", Some("true")),
        ("an unset subject type", no_type, "20507", Some("true")),
        ("a CPF with wrong check digits", bad_cpf, "20507", None),
    ];
    for (case, request, code, assumed) in cases {
        let status = app.create_document(request).await.unwrap_err();
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata["upstreamCode"], code, "{case}");
        assert_eq!(assumed_of(&status).as_deref(), assumed, "{case}");
    }

    let set = |process_id: &str, dui_value: &str| SetProcessDocumentRequest {
        process_id: process_id.into(),
        dui_type: DuiType::BrCpf as i32,
        dui_value: dui_value.into(),
    };
    let cases = [
        (
            "formatting symbols (no message on the page)",
            set("p-1", "529.982.247-25"),
            Some("true"),
        ),
        (
            "a process id over the facade's cap",
            set(&"p".repeat(300), CPF),
            Some("true"),
        ),
        (
            "a value over 320 characters (documented)",
            set("p-1", &"9".repeat(321)),
            None,
        ),
    ];
    for (case, request, assumed) in cases {
        let status = app.set_document(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{case}");
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata["upstreamCode"], "3", "{case}");
        assert_eq!(assumed_of(&status).as_deref(), assumed, "{case}");
    }
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn the_documented_id_api_envelope_with_a_string_code_is_mapped() {
    let app = spawn_app().await;

    // The emulator answers this fixture as the pages show the ID API's
    // errors: {"error":{"code":"10507","description":"…"}}.
    let status = app
        .create_document(new_capture("auth-jwt-expired", vec![small_png()]))
        .await
        .unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::FailedPrecondition,
            reason: "SELFIE_JWT_EXPIRED",
            upstream_http_status: Some("400"),
            upstream_code: Some("10507"),
        },
    );
    assert_eq!(details.error_info().unwrap().metadata["origin"], "upstream");
    let violations = &details
        .precondition_failure()
        .expect("PreconditionFailure")
        .violations;
    assert_eq!(violations[0].r#type, "SELFIE_JWT");
    the_one_create_sent(&app, &mut 0);
}

#[tokio::test]
async fn an_idcloud_429_without_retry_after_gets_the_default_retry_delay() {
    let app = spawn_app().await;

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
    assert_eq!(
        details.retry_info().expect("RetryInfo").retry_delay,
        Some(unico_facade::status::DEFAULT_RETRY_DELAY)
    );
    let sent = app.requests();
    assert_eq!(sent.len(), 1, "one call, not retried");
    assert_eq!(
        (sent[0].method.as_str(), sent[0].raw_path.as_str()),
        ("POST", "/client/v1/process/proc-rate-limited/document")
    );
}

#[tokio::test]
async fn a_set_process_document_value_with_symbols_that_format_no_identifier_is_forwarded() {
    let app = spawn_app().await;
    // Not a formatting symbol of CPF, CURP or SSN: the page leaves room for
    // "encoded or composite identifiers", so the vendor judges it.
    let value = "ABC_123(4)";

    app.set_document(SetProcessDocumentRequest {
        process_id: "awaiting-composite".into(),
        dui_type: DuiType::MxCurp as i32,
        dui_value: value.into(),
    })
    .await
    .expect("the emulator checks no format here");

    let sent = app.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].raw_path.as_str()),
        ("POST", "/client/v1/process/awaiting-composite/document")
    );
    assert_eq!(
        sent[0].json().expect("a JSON body"),
        json!({"duiType": "DUI_TYPE_MX_CURP", "duiValue": value})
    );
}
