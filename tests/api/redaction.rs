//! Redaction as a property of the code: every RPC driven through success and
//! every error class with logging at TRACE (every crate), everything written
//! captured, and none of the personal data or secrets of the test found.

use base64::Engine as _;
use tonic::Request;
use unico_facade::{
    emulator::FaultScript,
    pb::identity_v1::{
        CreateDocumentProcessRequest, DocumentFile, DocumentSubmission, DocumentType, DuiType,
        Gender, GetDocumentProcessRequest, ListReusableDocumentsRequest, NewCapture, Purpose,
        ReuseDocument, SetProcessDocumentRequest, Subject, WatchDocumentProcessRequest,
        document_submission::Capture,
    },
};

use crate::helpers::{answer, authorized, authorized_with_key, png, spawn_app};

const CPF: &str = "52998224725";
const NAME: &str = "Leia Organa Solo";
const EMAIL: &str = "leia.organa@alderaan.example";
const PHONE: &str = "+5511987654321";
const BIRTH: &str = "1977-05-25";

/// A 640 x 480 PNG header followed by a recognisable pseudo-random payload.
fn image() -> Vec<u8> {
    let mut bytes = png(640, 480, 64);
    let mut x: u32 = 0x1234_5678;
    bytes.extend((0..4096).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x >> 24) as u8
    }));
    bytes
}

fn subject(code: &str) -> Subject {
    Subject {
        dui_type: DuiType::BrCpf as i32,
        code: code.into(),
        name: NAME.into(),
        gender: Gender::Female as i32,
        birth_date: BIRTH.into(),
        email: EMAIL.into(),
        phone: PHONE.into(),
    }
}

fn capture(auth: &str, code: &str) -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        subject: Some(subject(code)),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: auth.into(),
            capture: Some(Capture::NewCapture(NewCapture {
                files: vec![DocumentFile {
                    data: image().into(),
                }],
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_personal_data_or_secret_is_ever_logged() {
    let (captured, _guard) = crate::helpers::capture_trace_logs();
    let app = spawn_app().await;
    let process = |id: &str, value: &str| SetProcessDocumentRequest {
        process_id: id.into(),
        dui_type: DuiType::BrCpf as i32,
        dui_value: value.into(),
    };
    let mut ps = app.process.clone();
    let mut ds = app.document.clone();

    // SetProcessDocument: success, local refusal, every vendor class.
    ps.set_process_document(authorized(process("awaiting-1", CPF)))
        .await
        .unwrap();
    let _ = ps
        .set_process_document(authorized(process("p", "529.982.247-25")))
        .await;
    let _ = ps
        .set_process_document(Request::new(process("p", CPF)))
        .await;
    for id in [
        "proc-expired",
        "no-such",
        "proc-rate-limited",
        "proc-internal-error",
    ] {
        let _ = ps.set_process_document(authorized(process(id, CPF))).await;
    }
    let mut expired_token = Request::new(process("awaiting-2", CPF));
    expired_token.metadata_mut().insert(
        "authorization",
        "Bearer emulator-expired-token".parse().unwrap(),
    );
    let _ = ps.set_process_document(expired_token).await;
    app.script(answer(
        400,
        &format!(r#"{{"code":3,"message":"dui_value {CPF} of {EMAIL} is invalid"}}"#),
    ));
    let _ = ps
        .set_process_document(authorized(process("awaiting-3", CPF)))
        .await;
    app.script(FaultScript {
        drop_connection: true,
        ..FaultScript::default()
    });
    let _ = ps
        .set_process_document(authorized(process("awaiting-4", CPF)))
        .await;
    app.script(FaultScript {
        delay_ms: Some(2_000),
        ..FaultScript::default()
    });
    let mut slow = authorized(process("awaiting-5", CPF));
    slow.set_timeout(std::time::Duration::from_millis(200));
    let _ = ps.set_process_document(slow).await;
    app.script(answer(200, &format!(r#"{{"process": "{CPF}"}}"#)));
    let _ = ps
        .set_process_document(authorized(process("awaiting-6", CPF)))
        .await;

    // CreateDocumentProcess: both flows, local refusal, vendor classes.
    let captured_doc = ds
        .create_document_process(authorized_with_key(capture("auth-face-match", CPF)))
        .await
        .unwrap()
        .into_inner();
    let reuse = CreateDocumentProcessRequest {
        subject: Some(subject(CPF)),
        document: Some(DocumentSubmission {
            purpose: Purpose::CreditProcess as i32,
            auth_process_id: "auth-face-match".into(),
            capture: Some(Capture::Reuse(ReuseDocument {
                document_id: captured_doc.document.unwrap().id,
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    };
    ds.create_document_process(authorized_with_key(reuse))
        .await
        .unwrap();
    let _ = ds
        .create_document_process(authorized_with_key(capture(
            "auth-face-match",
            "52998224724",
        )))
        .await;
    for auth in [
        "auth-jwt-expired",
        "auth-process-exists",
        "auth-rate-limited",
        "auth-internal-error",
    ] {
        let _ = ds
            .create_document_process(authorized_with_key(capture(auth, CPF)))
            .await;
    }
    let mut bad_key = authorized(capture("auth-face-match", CPF));
    bad_key
        .metadata_mut()
        .insert("apikey", "not-the-key-9f8e7d".parse().unwrap());
    let _ = ds.create_document_process(bad_key).await;
    app.script(answer(
        400,
        &format!(r#"{{"error":{{"code":20509,"message":"{NAME} {PHONE}"}}}}"#),
    ));
    let _ = ds
        .create_document_process(authorized_with_key(capture("auth-face-match", CPF)))
        .await;

    // The ID API's reads: the identifier travels in a query string.
    let listed = ds
        .list_reusable_documents(authorized_with_key(ListReusableDocumentsRequest {
            code: CPF.into(),
            document_type: DocumentType::Cnh as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!listed.documents.is_empty());
    let _ = ds
        .list_reusable_documents(authorized_with_key(ListReusableDocumentsRequest {
            code: "529.982.247-25".into(),
            document_type: DocumentType::Cnh as i32,
        }))
        .await;
    app.script(answer(
        400,
        &format!(r#"{{"error":{{"code":"20507","description":"{CPF} {NAME}"}}}}"#),
    ));
    let _ = ds
        .list_reusable_documents(authorized_with_key(ListReusableDocumentsRequest {
            code: CPF.into(),
            document_type: DocumentType::Rg as i32,
        }))
        .await;
    let pending = ds
        .create_document_process(authorized_with_key(capture("auth-async-capture", CPF)))
        .await
        .unwrap()
        .into_inner();
    let mut watch = ds
        .watch_document_process(authorized_with_key(WatchDocumentProcessRequest {
            process_id: pending.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    while let Some(state) = tokio_stream::StreamExt::next(&mut watch).await {
        state.unwrap();
    }
    for id in [pending.id.as_str(), "proc-doc-gone", "no-such"] {
        let _ = ds
            .get_document_process(authorized_with_key(GetDocumentProcessRequest {
                process_id: id.into(),
            }))
            .await;
    }

    let logs = captured.text();
    assert!(
        logs.contains("call finished") && logs.contains("TRACE"),
        "the capture works"
    );
    let image = image();
    let image_b64 = base64::engine::general_purpose::STANDARD.encode(&image);
    let raw_debug = format!("{:?}", &image[100..108]);
    let raw_debug = raw_debug.trim_matches(|c| c == '[' || c == ']');
    let secrets = [
        CPF,
        "529.982.247-25",
        "52998224724",
        NAME,
        EMAIL,
        // The digits: the phone as sent upstream, and within the `+` form.
        &PHONE[1..],
        BIRTH,
        "emulator-token",
        "emulator-expired-token",
        "emulator-apikey",
        "not-the-key-9f8e7d",
        &image_b64[200..260],
        raw_debug,
    ];
    for secret in secrets {
        if let Some(at) = logs.find(secret) {
            let start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line: String = logs[start..]
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            panic!("{secret:?} leaked in a log line: {line}");
        }
    }
}

/// The IDCloud journey: create with every personal field, set the document,
/// read, watch to the end through the webhook, and refused deliveries.
#[tokio::test(flavor = "current_thread")]
async fn the_process_flow_logs_no_personal_data_or_secret() {
    use unico_facade::{
        emulator::{JourneyEnd, WebhookAuth, WebhookTarget},
        pb::identity_v1::{
            CreateProcessRequest, GetProcessRequest, ProcessSubject, WatchProcessRequest,
        },
        webhook,
    };
    const PHONE_DIGITS: &str = "5511987654321";
    const WEBHOOK_SECRET: &str = "webhook-s3cret-4b1d";
    let (captured, _guard) = crate::helpers::capture_trace_logs();
    let app = crate::helpers::spawn_app_with(|s| {
        s.webhook = Some(webhook::WebhookSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            auth: webhook::WebhookAuth::Basic {
                username: "idcloud".into(),
                password: secrecy::SecretString::from(WEBHOOK_SECRET),
            },
        });
    })
    .await;
    let url = format!("http://{}{}", app.webhook_addr.unwrap(), webhook::PATH);
    app.emulator.set_webhook(Some(WebhookTarget {
        url: url.clone(),
        auth: WebhookAuth::Basic {
            username: "idcloud".into(),
            password: WEBHOOK_SECRET.into(),
        },
        copies: 2,
        delay_ms: 0,
    }));
    let mut ps = app.process.clone();
    let person = ProcessSubject {
        friendly_name: NAME.into(),
        email: EMAIL.into(),
        phone: PHONE_DIGITS.into(),
        notification_channels: vec![
            "NOTIFICATION_CHANNEL_EMAIL".into(),
            "NOTIFICATION_CHANNEL_WHATSAPP".into(),
        ],
        ..ProcessSubject::default()
    };
    let create = |person: ProcessSubject| CreateProcessRequest {
        flow: "idunicodocs_r2".into(),
        purpose: "creditprocess".into(),
        callback_uri: "/".into(),
        person: Some(person),
        ..CreateProcessRequest::default()
    };
    let created = ps
        .create_process(authorized(create(person.clone())))
        .await
        .unwrap()
        .into_inner()
        .process
        .unwrap();
    // Refused locally and by the vendor, with personal data in the request.
    let _ = ps
        .create_process(authorized(create(ProcessSubject {
            friendly_name: format!("{NAME} {NAME} {NAME} {NAME}"),
            ..person.clone()
        })))
        .await;
    let _ = ps
        .create_process(authorized(create(ProcessSubject {
            dui_type: "DUI_TYPE_BR_CPF".into(),
            dui_value: "52998224724x".into(),
            ..person.clone()
        })))
        .await;
    ps.set_process_document(authorized(SetProcessDocumentRequest {
        process_id: created.id.clone(),
        dui_type: DuiType::BrCpf as i32,
        dui_value: CPF.into(),
    }))
    .await
    .unwrap();
    ps.get_process(authorized(GetProcessRequest {
        process_id: created.id.clone(),
    }))
    .await
    .unwrap();
    let mut watch = ps
        .watch_process(authorized(WatchProcessRequest {
            process_id: created.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    tokio_stream::StreamExt::next(&mut watch)
        .await
        .unwrap()
        .unwrap();
    assert!(app.emulator.finish_journey(&created.id, JourneyEnd::Ok));
    while let Some(state) = tokio_stream::StreamExt::next(&mut watch).await {
        state.unwrap();
    }
    let _ = reqwest::Client::new()
        .post(&url)
        .basic_auth("idcloud", Some(format!("{WEBHOOK_SECRET}-wrong")))
        .body(format!(r#"{{"processId":"{CPF}","state":"x"}}"#))
        .send()
        .await;

    let logs = captured.text();
    assert!(logs.contains("webhook delivery"), "the capture works");
    for secret in [
        CPF,
        NAME,
        EMAIL,
        PHONE_DIGITS,
        WEBHOOK_SECRET,
        "emulator-token",
        created.sdk_token.as_str(),
    ] {
        assert!(!logs.contains(secret), "{secret:?} leaked");
    }
}
