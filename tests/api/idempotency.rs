//! Idempotent creates on the embedded store (one replica): a repeated
//! `request_id` replays the vendor's answer without a second upstream call,
//! and every case the README's table lists gets its documented status.

use std::time::Duration;

use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use unico_facade::{
    emulator::{EmulatedEndpoint, FaultScript},
    idempotency::XFCC,
    pb::identity_v1::{CreateDocumentProcessRequest, CreateDocumentProcessResponse},
};

use crate::helpers::{
    Expected, TestApp, answer, assert_status, authorized_with_key, field_violations, spawn_app,
    spawn_app_with, valid_capture,
};

pub(crate) const REPLAY: &str = "x-idempotent-replay";

/// A valid create carrying `request_id`.
pub(crate) fn keyed(request_id: &str) -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        request_id: request_id.to_owned(),
        ..valid_capture()
    }
}

/// The upstream creates the emulator received.
pub(crate) fn creates_sent(app: &unico_facade::emulator::Emulator) -> usize {
    app.requests()
        .iter()
        .filter(|r| r.endpoint == Some(EmulatedEndpoint::CreateDocumentProcess))
        .count()
}

/// A create's answer and whether it was marked replayed.
pub(crate) type Answer = (Result<CreateDocumentProcessResponse, Status>, bool);

pub(crate) async fn create(
    client: &unico_facade::pb::identity_v1::document_service_client::DocumentServiceClient<
        tonic::transport::Channel,
    >,
    request: Request<CreateDocumentProcessRequest>,
) -> Answer {
    let replayed = |md: &tonic::metadata::MetadataMap| {
        md.get(REPLAY).and_then(|v| v.to_str().ok()) == Some("true")
    };
    match client.clone().create_document_process(request).await {
        Ok(response) => (
            Ok(response.get_ref().clone()),
            replayed(response.metadata()),
        ),
        Err(status) => {
            let marked = replayed(status.metadata());
            (Err(status), marked)
        }
    }
}

async fn send(app: &TestApp, request: CreateDocumentProcessRequest) -> Answer {
    create(&app.document, authorized_with_key(request)).await
}

fn facade(code: Code, reason: &str) -> Expected<'_> {
    Expected {
        code,
        reason,
        upstream_http_status: None,
        upstream_code: None,
    }
}

#[tokio::test]
async fn a_repeat_gets_the_stored_answer_marked_replayed_and_calls_the_vendor_once() {
    let app = spawn_app().await;

    let (first, first_replayed) = send(&app, keyed("3f1e5a1c-0d4b-4b7e-9a51-5e0f1c2d3b4a")).await;
    let (again, again_replayed) = send(&app, keyed("3f1e5a1c-0d4b-4b7e-9a51-5e0f1c2d3b4a")).await;

    let first = first.expect("the first call succeeds");
    assert!(!first_replayed, "the first answer is not a replay");
    assert_eq!(again.expect("the repeat succeeds"), first);
    assert!(
        again_replayed,
        "the repeat is marked x-idempotent-replay: true"
    );
    assert_eq!(creates_sent(&app.emulator), 1);

    // Without a request id, every call is a new create.
    send(&app, keyed("")).await.0.unwrap();
    let (_, replayed) = send(&app, keyed("")).await;
    assert!(!replayed);
    assert_eq!(creates_sent(&app.emulator), 3);
}

#[tokio::test]
async fn a_repeat_with_another_request_is_refused_and_nothing_is_sent() {
    let app = spawn_app().await;
    send(&app, keyed("order-7")).await.0.unwrap();

    let mut other = keyed("order-7");
    other.subject.as_mut().unwrap().name = "Leia Organa".into();
    let (outcome, replayed) = send(&app, other).await;

    let status = outcome.unwrap_err();
    let details = assert_status(&status, facade(Code::InvalidArgument, "REQUEST_ID_REUSED"));
    assert_eq!(
        field_violations(&details),
        [("request_id".to_owned(), "REQUEST_ID_REUSED".to_owned())]
    );
    assert!(!replayed);
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn a_vendor_error_is_stored_and_replayed_with_its_own_status() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        ..answer(
            400,
            r#"{"error":{"code":20509,"message":"O nome informado é inválido."}}"#,
        )
    });

    let (first, _) = send(&app, keyed("vendor-error")).await;
    let (again, replayed) = send(&app, keyed("vendor-error")).await;

    let (first, again) = (first.unwrap_err(), again.unwrap_err());
    let info = |s: &Status| s.get_error_details().error_info().cloned().unwrap();
    assert_eq!(first.code(), again.code());
    assert_eq!(info(&first).reason, info(&again).reason);
    assert_eq!(info(&again).metadata["origin"], "upstream");
    assert_eq!(
        info(&first).metadata.get("upstreamHttpStatus"),
        Some(&"400".to_owned())
    );
    assert_eq!(info(&first).metadata, info(&again).metadata);
    assert!(replayed, "a replayed error is marked too");
    // The fault was for one call only: a second upstream call would succeed.
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn a_timeout_leaves_an_unknown_outcome_and_never_a_second_create() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        delay_ms: Some(3_000),
        ..FaultScript::default()
    });
    let mut request = authorized_with_key(keyed("slow-one"));
    request.set_timeout(Duration::from_millis(400));

    let (first, _) = create(&app.document, request).await;
    let (again, replayed) = send(&app, keyed("slow-one")).await;

    assert_status(
        &first.unwrap_err(),
        Expected {
            code: Code::DeadlineExceeded,
            reason: "UPSTREAM_TIMEOUT",
            ..facade(Code::DeadlineExceeded, "")
        },
    );
    let status = again.unwrap_err();
    assert_status(&status, facade(Code::Aborted, "REQUEST_OUTCOME_UNKNOWN"));
    assert!(status.message().contains("may or may not"), "{status:?}");
    assert!(!replayed);
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn a_repeat_while_the_first_runs_is_aborted_with_retry_info_then_replayed() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        delay_ms: Some(600),
        ..FaultScript::default()
    });
    let client = app.document.clone();
    let first =
        tokio::spawn(async move { create(&client, authorized_with_key(keyed("in-flight"))).await });
    wait_for_creates(&app.emulator, 1).await;

    let (during, _) = send(&app, keyed("in-flight")).await;
    let status = during.unwrap_err();
    assert_status(&status, facade(Code::Aborted, "REQUEST_IN_PROGRESS"));
    let retry = status
        .get_error_details()
        .retry_info()
        .cloned()
        .expect("RetryInfo");
    assert!(retry.retry_delay.unwrap() <= Duration::from_secs(1));

    let (first, _) = first.await.unwrap();
    let (after, replayed) = send(&app, keyed("in-flight")).await;
    assert_eq!(after.unwrap(), first.unwrap());
    assert!(replayed);
    assert_eq!(creates_sent(&app.emulator), 1);
}

/// Waits (bounded) until the emulator has received `n` creates.
async fn wait_for_creates(emulator: &unico_facade::emulator::Emulator, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while creates_sent(emulator) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upstream create arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_caller_gone_mid_call_leaves_in_progress_then_unknown_when_the_lease_runs_out() {
    let app = spawn_app_with(|s| s.idempotency.lease = Duration::from_millis(300)).await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        delay_ms: Some(5_000),
        ..FaultScript::default()
    });
    let client = app.document.clone();
    let abandoned =
        tokio::spawn(async move { create(&client, authorized_with_key(keyed("abandoned"))).await });
    wait_for_creates(&app.emulator, 1).await;
    // Past a few renewals: the lease holds while the call runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (during, _) = send(&app, keyed("abandoned")).await;
    assert_status(
        &during.unwrap_err(),
        facade(Code::Aborted, "REQUEST_IN_PROGRESS"),
    );

    // The call's owner goes away (as a replica that dies would): nobody
    // renews the lease, and once it runs out the outcome is unknown.
    abandoned.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (outcome, _) = send(&app, keyed("abandoned")).await;
        let status = outcome.unwrap_err();
        let reason = status
            .get_error_details()
            .error_info()
            .unwrap()
            .reason
            .clone();
        if reason == "REQUEST_OUTCOME_UNKNOWN" {
            assert_eq!(status.code(), Code::Aborted);
            break;
        }
        assert_eq!(reason, "REQUEST_IN_PROGRESS");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn local_refusals_are_not_stored_so_the_caller_fixes_and_retries_with_the_same_key() {
    let app = spawn_app().await;
    let mut invalid = keyed("fix-me");
    invalid.subject.as_mut().unwrap().code = "123".into();

    let (refused, _) = send(&app, invalid).await;
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);
    // Missing credentials: refused before anything is claimed.
    let (unauthenticated, _) = create(&app.document, Request::new(keyed("fix-me"))).await;
    assert_eq!(unauthenticated.unwrap_err().code(), Code::Unauthenticated);

    let (fixed, replayed) = send(&app, keyed("fix-me")).await;
    fixed.expect("the fixed request runs");
    assert!(!replayed);
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn a_malformed_request_id_is_refused_on_its_field() {
    let app = spawn_app().await;
    for bad in ["has space", "ação", &"x".repeat(129), "a/b"] {
        let (outcome, _) = send(&app, keyed(bad)).await;
        let status = outcome.unwrap_err();
        let details = assert_status(&status, facade(Code::InvalidArgument, "REQUEST_ID_INVALID"));
        assert_eq!(
            field_violations(&details),
            [("request_id".to_owned(), "REQUEST_ID_INVALID".to_owned())],
            "{bad}"
        );
    }
    let (ok, _) = send(&app, keyed(&"x".repeat(128))).await;
    ok.expect("128 characters are allowed");
    assert_eq!(creates_sent(&app.emulator), 1);
}

#[tokio::test]
async fn two_callers_never_share_a_stored_answer() {
    let app = spawn_app_with(|s| s.idempotency.identity_header = Some(XFCC.to_owned())).await;
    let as_peer = |peer: &str| {
        let mut request = authorized_with_key(keyed("same-key"));
        let xfcc = format!(
            "By=spiffe://cluster.local/ns/id/sa/facade;URI=spiffe://cluster.local/ns/app/sa/{peer}"
        );
        request.metadata_mut().insert(XFCC, xfcc.parse().unwrap());
        request
    };

    let (alice, alice_replayed) = create(&app.document, as_peer("alice")).await;
    let (bob, bob_replayed) = create(&app.document, as_peer("bob")).await;
    let (alice_again, alice_again_replayed) = create(&app.document, as_peer("alice")).await;

    assert_ne!(alice.as_ref().unwrap().id, bob.unwrap().id);
    assert!(!alice_replayed && !bob_replayed);
    assert_eq!(alice_again.unwrap().id, alice.unwrap().id);
    assert!(alice_again_replayed);
    assert_eq!(creates_sent(&app.emulator), 2);
}
