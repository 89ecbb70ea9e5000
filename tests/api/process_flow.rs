//! The process flow whole: CreateProcess (custom flow) → SetProcessDocument →
//! the journey finished at the emulator → a WatchProcess woken by the
//! vendor's webhook (or, without one, by polling), plus GetProcess, the
//! documented errors, and the webhook receiver's refusals.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use tokio_stream::StreamExt as _;
use tonic::Code;
use unico_facade::{
    config::Settings,
    emulator::{
        EmulatedEndpoint, JourneyEnd, RecordedRequest, WebhookAuth, WebhookTarget, fixtures,
    },
    pb::identity_v1::{
        CreateProcessRequest, GetProcessRequest, JourneyProcess, ProcessResult, ProcessState,
        ProcessSubject, WatchProcessRequest, WatchProcessResponse,
    },
    webhook,
};

use crate::helpers::{
    CPF, Expected, TOKEN, TestApp, assert_status, authorized, field_violations, spawn_app,
    spawn_app_with,
};

const CUSTOM_FLOW: &str = "idunicodocs_r2";
const WEBHOOK_USER: &str = "idcloud";
const WEBHOOK_PASSWORD: &str = "webhook-s3cret";

pub(crate) fn custom_flow_request() -> CreateProcessRequest {
    CreateProcessRequest {
        flow: CUSTOM_FLOW.into(),
        purpose: "creditprocess".into(),
        callback_uri: "myapp://done".into(),
        person: Some(ProcessSubject {
            friendly_name: "Ana".into(),
            email: "ana@example.com".into(),
            notification_channels: vec!["NOTIFICATION_CHANNEL_EMAIL".into()],
            ..ProcessSubject::default()
        }),
        expires_in: Some(prost_types::Duration {
            seconds: 3600,
            nanos: 0,
        }),
        client_reference: "order-42".into(),
        ..CreateProcessRequest::default()
    }
}

fn with_webhook(settings: &mut Settings) {
    settings.webhook = Some(webhook::WebhookSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        auth: webhook::WebhookAuth::Basic {
            username: WEBHOOK_USER.into(),
            password: SecretString::from(WEBHOOK_PASSWORD),
        },
    });
    settings.admin_listen = Some("127.0.0.1:0".parse().unwrap());
}

impl TestApp {
    async fn create_process(
        &self,
        request: CreateProcessRequest,
    ) -> Result<JourneyProcess, tonic::Status> {
        let response = self
            .process
            .clone()
            .create_process(authorized(request))
            .await?;
        Ok(response.into_inner().process.expect("a process"))
    }

    async fn get_process(&self, id: &str) -> Result<JourneyProcess, tonic::Status> {
        let response = self
            .process
            .clone()
            .get_process(authorized(GetProcessRequest {
                process_id: id.into(),
            }))
            .await?;
        Ok(response.into_inner().process.expect("a process"))
    }

    async fn watch_process(
        &self,
        id: &str,
        timeout: Duration,
    ) -> tonic::Streaming<WatchProcessResponse> {
        let mut request = authorized(WatchProcessRequest {
            process_id: id.into(),
        });
        request.set_timeout(timeout);
        self.process
            .clone()
            .watch_process(request)
            .await
            .expect("the watch starts")
            .into_inner()
    }

    fn process_reads(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.endpoint == Some(EmulatedEndpoint::GetProcess))
            .collect()
    }

    fn webhook_url(&self) -> String {
        format!(
            "http://{}{}",
            self.webhook_addr.expect("webhook on"),
            webhook::PATH
        )
    }

    /// Points the emulator's webhook at this facade, with its credentials.
    fn deliver_webhooks_here(&self, copies: u32) {
        self.emulator.set_webhook(Some(WebhookTarget {
            url: self.webhook_url(),
            auth: WebhookAuth::Basic {
                username: WEBHOOK_USER.into(),
                password: WEBHOOK_PASSWORD.into(),
            },
            copies,
            delay_ms: 0,
        }));
    }

    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin_addr.expect("admin on"));
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }
}

pub(crate) async fn next(stream: &mut tonic::Streaming<WatchProcessResponse>) -> JourneyProcess {
    stream
        .next()
        .await
        .expect("a message")
        .expect("not an error")
        .process
        .expect("a process")
}

fn assert_idcloud_call(request: &RecordedRequest, method: &str, path: &str) {
    assert_eq!(request.method, method);
    assert_eq!(request.raw_path, path);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        request.header("apikey"),
        None,
        "IDCloud takes the token only"
    );
}

#[tokio::test]
async fn create_process_sends_the_documented_body_and_answers_the_process() {
    let app = spawn_app().await;

    let process = app.create_process(custom_flow_request()).await.unwrap();

    let sent: Vec<_> = app
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Some(EmulatedEndpoint::CreateProcess))
        .collect();
    assert_eq!(sent.len(), 1);
    assert_idcloud_call(&sent[0], "POST", "/client/v1/process");
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    assert_eq!(
        sent[0].json().unwrap(),
        json!({
            "callbackUri": "myapp://done", "flow": CUSTOM_FLOW, "purpose": "creditprocess",
            "person": {"friendlyName": "Ana", "email": "ana@example.com",
                "notifications": [{"notificationChannel": "NOTIFICATION_CHANNEL_EMAIL"}]},
            "expiresIn": "3600s", "clientReference": "order-42"
        })
    );
    assert!(!process.id.is_empty());
    assert_eq!(process.state, ProcessState::AwaitingForDocument as i32);
    assert_eq!(process.state_name, "AWAITING_FOR_DOCUMENT");
    assert_eq!(process.flow, CUSTOM_FLOW);
    assert_eq!(process.client_reference, "order-42");
    assert!(process.user_redirect_url.contains(&process.id));
    assert!(!process.sdk_token.is_empty());
    assert!(process.created_at.is_some());
    assert_eq!(process.company_country_code, "BR");
    let unmodelled = process.unmodelled.expect("unmodelled fields kept");
    assert!(unmodelled.fields.contains_key("services"));
}

#[tokio::test]
async fn get_process_reads_the_document_set_and_the_exact_path() {
    let app = spawn_app().await;
    let created = app.create_process(custom_flow_request()).await.unwrap();
    app.set_document_of(&created.id).await.unwrap();

    let process = app.get_process(&created.id).await.unwrap();

    assert_eq!(process.state, ProcessState::Created as i32);
    let person = process.person.unwrap();
    assert_eq!(
        (person.dui_type.as_str(), person.dui_value.as_str()),
        ("DUI_TYPE_BR_CPF", CPF)
    );
    let reads = app.process_reads();
    assert_eq!(reads.len(), 1);
    assert_idcloud_call(
        &reads[0],
        "GET",
        &format!("/client/v1/process/{}", created.id),
    );
    assert!(reads[0].body.is_empty());
    assert_eq!(reads[0].query, None);
}

#[tokio::test]
async fn the_documented_errors_are_mapped() {
    let app = spawn_app().await;
    let cases = [
        (
            CreateProcessRequest {
                flow: String::new(),
                ..custom_flow_request()
            },
            Code::InvalidArgument,
            "FLOW_INVALID",
            Some("flow"),
            "400",
            "3",
        ),
        (
            CreateProcessRequest {
                callback_uri: String::new(),
                ..custom_flow_request()
            },
            Code::InvalidArgument,
            "CALLBACK_URI_INVALID",
            Some("callback_uri"),
            "400",
            "3",
        ),
        (
            CreateProcessRequest {
                purpose: "x".into(),
                ..custom_flow_request()
            },
            Code::InvalidArgument,
            "PURPOSE_INVALID",
            Some("purpose"),
            "400",
            "3",
        ),
        (
            CreateProcessRequest {
                flow: fixtures::FLOW_APIKEYS_NOT_SET.into(),
                ..custom_flow_request()
            },
            Code::FailedPrecondition,
            "TENANT_API_KEYS_NOT_SET",
            None,
            "400",
            "9",
        ),
        (
            CreateProcessRequest {
                flow: fixtures::FLOW_NO_PERMISSION.into(),
                ..custom_flow_request()
            },
            Code::PermissionDenied,
            "ACTION_NOT_PERMITTED",
            None,
            "403",
            "7",
        ),
        (
            CreateProcessRequest {
                flow: fixtures::FLOW_INTERNAL_ERROR.into(),
                ..custom_flow_request()
            },
            // "Try again later": UNAVAILABLE, as on SetProcessDocument.
            Code::Unavailable,
            "UPSTREAM_UNAVAILABLE",
            None,
            "500",
            "99999",
        ),
    ];
    for (request, code, reason, field, http, vendor_code) in cases {
        let status = app.create_process(request).await.unwrap_err();
        let details = assert_status(
            &status,
            Expected {
                code,
                reason,
                upstream_http_status: Some(http),
                upstream_code: Some(vendor_code),
            },
        );
        if let Some(field) = field {
            assert_eq!(
                field_violations(&details),
                [(field.to_owned(), reason.to_owned())]
            );
        }
    }
    let status = app.get_process("no-such-process").await.unwrap_err();
    let details = assert_status(
        &status,
        Expected {
            code: Code::NotFound,
            reason: "PROCESS_NOT_FOUND",
            upstream_http_status: Some("404"),
            upstream_code: Some("5"),
        },
    );
    assert_eq!(
        details.resource_info().unwrap().resource_name,
        "no-such-process"
    );
}

#[tokio::test]
async fn the_pages_rules_are_refused_locally_and_nothing_is_sent() {
    let app = spawn_app().await;
    let request = CreateProcessRequest {
        person: Some(ProcessSubject {
            friendly_name: "a".repeat(51),
            phone: "+55 11 99999-9999".into(),
            notification_channels: vec![
                "NOTIFICATION_CHANNEL_WHATSAPP".into(),
                "NOTIFICATION_CHANNEL_EMAIL".into(),
            ],
            ..ProcessSubject::default()
        }),
        ..custom_flow_request()
    };
    let status = app.create_process(request).await.unwrap_err();
    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "PERSON_FRIENDLY_NAME_TOO_LONG",
            upstream_http_status: None,
            upstream_code: Some("3"),
        },
    );
    assert_eq!(
        field_violations(&details),
        [
            (
                "person.friendly_name".into(),
                "PERSON_FRIENDLY_NAME_TOO_LONG".into()
            ),
            ("person.phone".into(), "PERSON_PHONE_INVALID".into()),
            ("person.email".into(), "PERSON_EMAIL_REQUIRED".into()),
        ]
    );
    assert!(app.requests().is_empty(), "nothing reached the vendor");
}

#[tokio::test]
async fn a_watch_ends_within_a_second_of_the_webhook_without_polling_in_between() {
    let app = spawn_app_with(with_webhook).await;
    app.deliver_webhooks_here(1);
    let created = app.create_process(custom_flow_request()).await.unwrap();
    app.set_document_of(&created.id).await.unwrap();

    let mut watch = app
        .watch_process(&created.id, Duration::from_secs(20))
        .await;
    let first = next(&mut watch).await;
    assert_eq!(first.state, ProcessState::Created as i32);
    assert_eq!(app.process_reads().len(), 1, "one read on start");

    // Long enough that a poll would show (the fallback is 30 s).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.process_reads().len(), 1, "no polling while waiting");
    let finished_at = Instant::now();
    assert!(app.emulator.finish_journey(&created.id, JourneyEnd::Ok));
    let last = next(&mut watch).await;
    let elapsed = finished_at.elapsed();

    assert!(
        elapsed < Duration::from_secs(1),
        "ended {elapsed:?} after the webhook"
    );
    assert_eq!(last.state, ProcessState::Finished as i32);
    assert_eq!(last.result, ProcessResult::Ok as i32);
    assert!(last.finished_at.is_some());
    assert!(watch.next().await.is_none(), "the stream ends with OK");
    assert_eq!(
        app.process_reads().len(),
        2,
        "the start read and the read the webhook caused, nothing else"
    );
    let deliveries = app.emulator.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    let metrics = app.metrics().await;
    assert!(metrics.contains("unico_facade_webhook_deliveries_total{outcome=\"accepted\"} 1"));
    assert!(
        metrics.contains("method=\"WatchProcess\",code=\"OK\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("endpoint=\"GET /client/v1/process/{processId}\""));
    assert!(metrics.contains("endpoint=\"POST /client/v1/process\""));
    assert!(!metrics.contains(&created.id), "no process id in a label");
}

#[tokio::test]
async fn without_the_webhook_a_watch_ends_by_polling() {
    let app = spawn_app_with(|s| s.watch.backoff_max = Duration::from_millis(500)).await;
    let created = app.create_process(custom_flow_request()).await.unwrap();
    app.set_document_of(&created.id).await.unwrap();

    let mut watch = app
        .watch_process(&created.id, Duration::from_secs(20))
        .await;
    assert_eq!(next(&mut watch).await.state, ProcessState::Created as i32);
    assert!(
        app.emulator
            .finish_journey(&created.id, JourneyEnd::InvalidIdentity)
    );
    let last = next(&mut watch).await;

    assert_eq!(last.state, ProcessState::Finished as i32);
    assert_eq!(last.result, ProcessResult::InvalidIdentity as i32);
    assert!(watch.next().await.is_none());
    assert!(app.process_reads().len() >= 2, "ended by a poll");
}

#[tokio::test]
async fn an_unauthenticated_webhook_changes_nothing() {
    let app = spawn_app_with(with_webhook).await;
    let created = app.create_process(custom_flow_request()).await.unwrap();
    let mut watch = app
        .watch_process(&created.id, Duration::from_secs(20))
        .await;
    next(&mut watch).await;
    let client = reqwest::Client::new();
    let notice = json!({"processId": created.id, "state": "PROCESS_STATE_FINISHED", "flow": CUSTOM_FLOW, "result": "ok"});

    let none = client
        .post(app.webhook_url())
        .json(&notice)
        .send()
        .await
        .unwrap();
    let wrong = client
        .post(app.webhook_url())
        .basic_auth(WEBHOOK_USER, Some("wrong"))
        .json(&notice)
        .send()
        .await
        .unwrap();

    for response in [none, wrong] {
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.process_reads().len(), 1, "no read was caused");
    assert!(
        app.metrics()
            .await
            .contains("unico_facade_webhook_deliveries_total{outcome=\"unauthorized\"} 2")
    );
}

#[tokio::test]
async fn the_receiver_refuses_malformed_and_oversized_payloads_and_acks_duplicates_once() {
    let app = spawn_app_with(with_webhook).await;
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        client
            .post(app.webhook_url())
            .basic_auth(WEBHOOK_USER, Some(WEBHOOK_PASSWORD))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        &b"not json"[..],
        b"{}",
        br#"{"processId": "", "state": "PROCESS_STATE_FINISHED"}"#,
    ] {
        assert_eq!(post(body.to_vec()).await.unwrap().status(), 400);
    }
    let huge = vec![b' '; webhook::MAX_BODY_BYTES + 1];
    assert_eq!(post(huge).await.unwrap().status(), 413);

    // Delivered twice: both acknowledged, the watch woken (and reading) once.
    app.deliver_webhooks_here(2);
    let created = app.create_process(custom_flow_request()).await.unwrap();
    let mut watch = app
        .watch_process(&created.id, Duration::from_secs(20))
        .await;
    next(&mut watch).await;
    let started = Instant::now();
    assert!(
        app.emulator
            .finish_journey(&created.id, JourneyEnd::Expired)
    );
    let last = next(&mut watch).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(last.result, ProcessResult::Expired as i32);
    assert!(watch.next().await.is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let statuses: Vec<_> = app
        .emulator
        .webhook_deliveries()
        .into_iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, [Some(200), Some(200)]);
    assert_eq!(app.process_reads().len(), 2);
    let metrics = app.metrics().await;
    for line in [
        "outcome=\"malformed\"} 3",
        "outcome=\"too_large\"} 1",
        "outcome=\"accepted\"} 1",
        "outcome=\"duplicate\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn a_late_webhook_is_covered_by_the_fallback_poll() {
    let app = spawn_app_with(|s| {
        with_webhook(s);
        s.watch.fallback_poll = Duration::from_millis(300);
    })
    .await;
    // Never delivered: the slow poll ends the watch anyway.
    app.deliver_webhooks_here(0);
    let created = app.create_process(custom_flow_request()).await.unwrap();
    let mut watch = app
        .watch_process(&created.id, Duration::from_secs(20))
        .await;
    next(&mut watch).await;
    assert!(app.emulator.finish_journey(&created.id, JourneyEnd::Ok));
    let last = next(&mut watch).await;
    assert_eq!(last.state, ProcessState::Finished as i32);
    assert!(app.emulator.webhook_deliveries().is_empty());
}
