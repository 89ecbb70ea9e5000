//! The circuit breaker per upstream family, driven by the emulator's fault
//! scripting: troubled calls open it and the next ones fail fast with nothing
//! sent; after the cool-down exactly one probe goes through, whose answer
//! closes it and whose failure reopens it; a create sent as a failed probe is
//! never re-sent; and what is not vendor trouble (a slow answer within the
//! timeout, a 4xx, the caller's own short deadline) never opens it.

use std::time::{Duration, Instant};

use tonic::{Code, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;
use unico_facade::{
    circuit::CircuitSettings,
    config::Settings,
    emulator::{EmulatedEndpoint, FaultScript},
    pb::identity_v1::CreateDocumentProcessRequest,
};

use crate::helpers::{
    Expected, TestApp, answer, assert_status, authorized, scrape, set_cpf, spawn_app_with,
    valid_capture, value_of,
};

const COOLDOWN: Duration = Duration::from_millis(200);
const IDCLOUD: &str = "unico.upstream.IdCloudApi";
const ID: &str = "unico.upstream.IdApi";

/// A facade whose circuits open after `failures` and cool down for 200 ms,
/// with its metrics listener.
async fn spawn_breaker(failures: u32, customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.circuit = CircuitSettings {
            failures,
            cooldown: COOLDOWN,
        };
        s.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        customize(s);
    })
    .await
}

fn on(endpoint: EmulatedEndpoint, times: u32, fault: FaultScript) -> FaultScript {
    FaultScript {
        endpoint: Some(endpoint),
        times,
        ..fault
    }
}

fn unavailable(endpoint: EmulatedEndpoint, times: u32) -> FaultScript {
    on(endpoint, times, answer(503, "<html>down</html>"))
}

fn delayed(endpoint: EmulatedEndpoint, times: u32, ms: u64) -> FaultScript {
    on(
        endpoint,
        times,
        FaultScript {
            delay_ms: Some(ms),
            ..FaultScript::default()
        },
    )
}

/// The requests the emulator received for `endpoint`.
fn sent_to(app: &TestApp, endpoint: EmulatedEndpoint) -> usize {
    app.requests()
        .iter()
        .filter(|r| r.endpoint == Some(endpoint))
        .count()
}

/// Whether the emulator received a call for `process_id`. (A call whose
/// caller gave up may or may not have reached it, so counts would race.)
fn was_sent(app: &TestApp, process_id: &str) -> bool {
    app.requests()
        .iter()
        .any(|r| r.process_id.as_deref() == Some(process_id))
}

async fn health_of(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status()
}

/// Waits (polling the emulator's record, never a fixed sleep) until it has
/// received `n` requests for `endpoint`.
async fn until_sent(app: &TestApp, endpoint: EmulatedEndpoint, n: usize) {
    let started = Instant::now();
    while sent_to(app, endpoint) < n {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the emulator got {} of {n}",
            sent_to(app, endpoint)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Asserts the fast refusal of an open circuit and returns its RetryInfo.
fn assert_circuit_open(status: &Status, upstream: &str) -> Duration {
    let details = assert_status(
        status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_CIRCUIT_OPEN",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    let metadata = &details.error_info().unwrap().metadata;
    assert_eq!(metadata.get("origin").map(String::as_str), Some("facade"));
    assert_eq!(metadata.get("upstream").map(String::as_str), Some(upstream));
    let retry = details.retry_info().expect("RetryInfo").retry_delay;
    let retry = retry.expect("a retry delay");
    assert!(retry > Duration::ZERO && retry <= COOLDOWN, "{retry:?}");
    retry
}

fn assert_upstream_unavailable(status: &Status) {
    assert_status(
        status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_UNAVAILABLE",
            upstream_http_status: Some("503"),
            upstream_code: None,
        },
    );
}

/// Opens the IDCloud circuit with `failures` scripted 503s.
async fn open_idcloud(app: &TestApp, failures: u32) {
    app.script(unavailable(EmulatedEndpoint::SetProcessDocument, failures));
    for i in 0..failures {
        let status = app
            .set_document_of(&format!("awaiting-open-{i}"))
            .await
            .unwrap_err();
        assert_upstream_unavailable(&status);
    }
}

/// Waits out the cool-down the way a client would: for the RetryInfo delay.
async fn wait_for_retry(status: &Status) {
    let delay = status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    tokio::time::sleep(delay + Duration::from_millis(5)).await;
}

#[tokio::test]
async fn consecutive_failures_open_the_circuit_and_the_next_call_fails_fast_with_nothing_sent() {
    let app = spawn_breaker(3, |_| {}).await;
    open_idcloud(&app, 3).await;
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 3);

    let started = Instant::now();
    let status = app.set_document_of("awaiting-refused").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "refused at once"
    );
    assert_circuit_open(&status, IDCLOUD);
    assert_eq!(
        sent_to(&app, EmulatedEndpoint::SetProcessDocument),
        3,
        "nothing sent while open"
    );

    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::NotServing);
    assert_eq!(health_of(&app, "").await, ServingStatus::Serving);
    // The other family has its own circuit, still closed.
    assert_eq!(health_of(&app, ID).await, ServingStatus::Serving);
    app.create_document(valid_capture())
        .await
        .expect("the ID API is not refused");

    let metrics = scrape(&app).await;
    let series = |name: &str, labels: &str| value_of(&metrics, &format!("{name}{{{labels}}}"));
    let state = "unico_facade_upstream_circuit_state";
    assert_eq!(series(state, r#"upstream="IdCloudApi",state="open""#), 1.0);
    assert_eq!(
        series(state, r#"upstream="IdCloudApi",state="closed""#),
        0.0
    );
    assert_eq!(series(state, r#"upstream="IdApi",state="closed""#), 1.0);
    assert_eq!(
        series(
            "unico_facade_upstream_circuit_transitions_total",
            r#"upstream="IdCloudApi",state="open""#
        ),
        1.0
    );
    assert_eq!(
        series(
            "unico_facade_upstream_circuit_rejections_total",
            r#"upstream="IdCloudApi""#
        ),
        1.0
    );
    assert_eq!(
        series(
            "unico_facade_local_rejections_total",
            r#"reason="UPSTREAM_CIRCUIT_OPEN""#
        ),
        1.0
    );
}

#[tokio::test]
async fn after_the_cooldown_one_probe_goes_through_alone_and_its_success_closes_the_circuit() {
    let app = spawn_breaker(3, |_| {}).await;
    open_idcloud(&app, 3).await;
    let refused = app.set_document_of("awaiting-early").await.unwrap_err();
    assert_circuit_open(&refused, IDCLOUD);
    wait_for_retry(&refused).await;

    // The probe: slow enough that another call arrives while it is in flight.
    app.script(delayed(EmulatedEndpoint::SetProcessDocument, 1, 300));
    let probe = {
        let process = app.process.clone();
        tokio::spawn(async move {
            process
                .clone()
                .set_process_document(authorized(set_cpf("awaiting-probe")))
                .await
        })
    };
    until_sent(&app, EmulatedEndpoint::SetProcessDocument, 4).await;
    let meanwhile = app.set_document_of("awaiting-meanwhile").await.unwrap_err();
    assert_circuit_open(&meanwhile, IDCLOUD);
    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::NotServing);

    probe.await.unwrap().expect("the probe succeeds");
    let sent = app.requests();
    let probes: Vec<_> = sent
        .iter()
        .filter(|r| r.endpoint == Some(EmulatedEndpoint::SetProcessDocument))
        .skip(3)
        .collect();
    assert_eq!(probes.len(), 1, "exactly one probe");
    assert_eq!(probes[0].process_id.as_deref(), Some("awaiting-probe"));

    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
    app.set_document_of("awaiting-after")
        .await
        .expect("closed again");
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 5);
}

#[tokio::test]
async fn a_create_sent_as_a_failed_probe_is_sent_once_and_reopens_the_circuit() {
    let app = spawn_breaker(2, |_| {}).await;
    let create = EmulatedEndpoint::CreateDocumentProcess;
    app.script(unavailable(create, 2));
    for _ in 0..2 {
        let status = app.create_document(valid_capture()).await.unwrap_err();
        assert_upstream_unavailable(&status);
    }
    let refused = app.create_document(valid_capture()).await.unwrap_err();
    assert_circuit_open(&refused, ID);
    assert_eq!(sent_to(&app, create), 2);
    wait_for_retry(&refused).await;

    // The probe is a create, and the vendor fails it (a lost connection: the
    // vendor may have acted, so re-sending it could create a second process).
    app.script(on(
        create,
        1,
        FaultScript {
            drop_connection: true,
            ..FaultScript::default()
        },
    ));
    let status = app.create_document(valid_capture()).await.unwrap_err();
    assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_CONNECTION_LOST",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert_eq!(sent_to(&app, create), 3, "the probe was sent exactly once");

    // Reopened for a whole cool-down.
    let refused = app.create_document(valid_capture()).await.unwrap_err();
    let retry = assert_circuit_open(&refused, ID);
    assert!(retry > COOLDOWN / 2, "a new cool-down: {retry:?}");
    assert_eq!(
        sent_to(&app, create),
        3,
        "nothing re-sent, nothing new sent"
    );
    assert_eq!(health_of(&app, ID).await, ServingStatus::NotServing);
}

#[tokio::test]
async fn a_slow_vendor_that_answers_within_the_timeout_never_opens_it() {
    let app = spawn_breaker(2, |s| s.upstream_timeout = Duration::from_secs(2)).await;
    app.script(delayed(EmulatedEndpoint::SetProcessDocument, 4, 250));
    for i in 0..4 {
        let started = Instant::now();
        app.set_document_of(&format!("awaiting-slow-{i}"))
            .await
            .expect("slow, but answered");
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
    app.set_document_of("awaiting-fast")
        .await
        .expect("still closed");
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 5);
}

#[tokio::test]
async fn the_facades_own_upstream_timeout_counts_as_vendor_trouble() {
    let app = spawn_breaker(2, |s| s.upstream_timeout = Duration::from_millis(150)).await;
    app.script(delayed(EmulatedEndpoint::SetProcessDocument, 2, 1_000));
    for i in 0..2 {
        let status = app
            .set_document_of(&format!("awaiting-stalled-{i}"))
            .await
            .unwrap_err();
        assert_status(
            &status,
            Expected {
                code: Code::DeadlineExceeded,
                reason: "UPSTREAM_TIMEOUT",
                upstream_http_status: None,
                upstream_code: None,
            },
        );
    }
    let status = app.set_document_of("awaiting-refused").await.unwrap_err();
    assert_circuit_open(&status, IDCLOUD);
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 2);
}

#[tokio::test]
async fn a_caller_deadline_shorter_than_the_vendors_latency_does_not_count() {
    // The vendor is slower than these callers will wait, but well within
    // the facade's own upstream timeout (10 s).
    let app = spawn_breaker(2, |_| {}).await;
    app.script(delayed(EmulatedEndpoint::SetProcessDocument, 3, 1_000));
    for i in 0..3 {
        let mut request = authorized(set_cpf(&format!("awaiting-impatient-{i}")));
        request.set_timeout(Duration::from_millis(300));
        let status = app
            .process
            .clone()
            .set_process_document(request)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
    app.set_document_of("awaiting-patient")
        .await
        .expect("not refused: the circuit stayed closed");
    assert!(was_sent(&app, "awaiting-patient"));
}

#[tokio::test]
async fn vendor_4xx_never_open_it_and_an_answer_resets_the_count() {
    let app = spawn_breaker(2, |_| {}).await;
    // 404, 400 (9) and 429: the vendor answered each time.
    for id in [
        "no-such-process",
        "proc-document-set",
        "proc-rate-limited",
        "no-such-process",
        "proc-expired",
    ] {
        let status = app.set_document_of(id).await.unwrap_err();
        assert_ne!(status.code(), Code::Unavailable, "{id}: {status:?}");
    }
    // A failure, an answer, a failure: never two in a row.
    app.script(unavailable(EmulatedEndpoint::SetProcessDocument, 1));
    assert_upstream_unavailable(&app.set_document_of("awaiting-a").await.unwrap_err());
    app.set_document_of("no-such-process").await.unwrap_err();
    app.script(unavailable(EmulatedEndpoint::SetProcessDocument, 1));
    assert_upstream_unavailable(&app.set_document_of("awaiting-b").await.unwrap_err());

    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
    app.set_document_of("awaiting-c").await.expect("closed");
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 9);
}

#[tokio::test]
async fn a_probe_cut_by_its_callers_deadline_leaves_the_next_call_to_probe() {
    let app = spawn_breaker(2, |_| {}).await;
    open_idcloud(&app, 2).await;
    let refused = app.set_document_of("awaiting-early").await.unwrap_err();
    wait_for_retry(&refused).await;

    // The probe's caller gives up before the vendor answers: no verdict.
    app.script(delayed(EmulatedEndpoint::SetProcessDocument, 1, 1_000));
    let mut request = authorized(set_cpf("awaiting-impatient-probe"));
    request.set_timeout(Duration::from_millis(300));
    let status = app
        .process
        .clone()
        .set_process_document(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    app.set_document_of("awaiting-next-probe")
        .await
        .expect("the next call probes, and its success closes the circuit");
    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
    assert!(was_sent(&app, "awaiting-next-probe"));
}

#[tokio::test]
async fn with_zero_failures_the_breaker_is_off() {
    let app = spawn_breaker(0, |_| {}).await;
    app.script(unavailable(EmulatedEndpoint::SetProcessDocument, 8));
    for i in 0..8 {
        assert_upstream_unavailable(
            &app.set_document_of(&format!("awaiting-{i}"))
                .await
                .unwrap_err(),
        );
    }
    app.set_document_of("awaiting-ok").await.expect("sent");
    assert_eq!(sent_to(&app, EmulatedEndpoint::SetProcessDocument), 9);
    assert_eq!(health_of(&app, IDCLOUD).await, ServingStatus::Serving);
}

#[tokio::test]
async fn a_create_refused_by_the_circuit_is_not_stored_under_its_request_id() {
    let app = spawn_breaker(1, |_| {}).await;
    let create = EmulatedEndpoint::CreateDocumentProcess;
    app.script(unavailable(create, 1));
    app.create_document(valid_capture()).await.unwrap_err();

    let keyed = CreateDocumentProcessRequest {
        request_id: "circuit-open-1".to_owned(),
        ..valid_capture()
    };
    let refused = app.create_document(keyed.clone()).await.unwrap_err();
    assert_circuit_open(&refused, ID);
    assert_eq!(sent_to(&app, create), 1);
    wait_for_retry(&refused).await;

    // The same key, once the circuit lets a probe through: sent, not replayed.
    let created = app.create_document(keyed).await.expect("sent as the probe");
    assert!(!created.id.is_empty());
    assert_eq!(sent_to(&app, create), 2);
}
