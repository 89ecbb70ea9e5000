//! Scripted faults: replaced answers, counting down, FIFO, delays, dropped connections.

use std::time::Duration;

use super::{Reply, client, send, start};
use crate::emulator::{EmulatedEndpoint, Emulator, FaultScript};

const CPF_BODY: &str = r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"12345678901"}"#;

fn set_document_request(emulator: &Emulator, id: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!(
            "{}/client/v1/process/{id}/document",
            emulator.base_url()
        ))
        .bearer_auth("emulator-token")
        .body(CPF_BODY)
}

fn create_process_request(emulator: &Emulator) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/processes/v1", emulator.base_url()))
        .bearer_auth("emulator-token")
        .header("APIKEY", "emulator-apikey")
        .body("{}")
}

async fn set_document(emulator: &Emulator, id: &str) -> Reply {
    send(set_document_request(emulator, id)).await
}

#[tokio::test]
async fn a_scripted_answer_replaces_the_normal_one_for_times_calls() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::SetProcessDocument),
        times: 2,
        status: Some(503),
        headers: vec![
            ("content-type".into(), "text/html".into()),
            ("retry-after".into(), "7".into()),
        ],
        body: Some("<html>Service Unavailable</html>".into()),
        ..FaultScript::default()
    });

    let first = set_document(&emulator, "proc-awaiting-document").await;
    let second = set_document(&emulator, "proc-awaiting-document").await;
    let third = set_document(&emulator, "proc-awaiting-document").await;

    for faulted in [&first, &second] {
        assert_eq!(faulted.status, 503);
        assert_eq!(faulted.body, "<html>Service Unavailable</html>");
        assert_eq!(faulted.header("content-type"), Some("text/html"));
        assert_eq!(faulted.header("retry-after"), Some("7"));
    }
    // The faulted calls did not reach the process: the third one sets the document.
    assert_eq!(third.status, 200);
    assert_eq!(
        emulator.requests().len(),
        3,
        "faulted calls are recorded too"
    );
}

#[tokio::test]
async fn a_json_body_gets_a_json_content_type() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        status: Some(502),
        body: Some(r#"{"message":"bad gateway"}"#.into()),
        ..FaultScript::default()
    });

    let reply = set_document(&emulator, "proc-awaiting-document").await;

    assert_eq!(
        (reply.status, reply.header("content-type")),
        (502, Some("application/json"))
    );
}

#[tokio::test]
async fn faults_apply_first_in_first_out_to_matching_endpoints_only() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        status: Some(502),
        ..FaultScript::default()
    });
    emulator.script_fault(FaultScript {
        status: Some(500),
        ..FaultScript::default()
    });
    emulator.script_fault(FaultScript {
        status: Some(504),
        ..FaultScript::default()
    });

    let set = set_document(&emulator, "proc-expired").await;
    let create = send(create_process_request(&emulator)).await;
    let any = set_document(&emulator, "proc-expired").await;
    let normal = set_document(&emulator, "proc-expired").await;

    assert_eq!(
        [set.status, create.status, any.status, normal.status],
        [500, 502, 504, 400]
    );
}

#[tokio::test]
async fn cleared_faults_no_longer_apply() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        status: Some(500),
        times: 5,
        ..FaultScript::default()
    });

    emulator.clear_faults();

    assert_eq!(set_document(&emulator, "proc-expired").await.status, 400);
}

#[tokio::test]
async fn headers_alone_are_added_to_the_normal_answer() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        headers: vec![("x-upstream-trace".into(), "t-1".into())],
        ..FaultScript::default()
    });

    let reply = set_document(&emulator, "proc-expired").await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("x-upstream-trace"), Some("t-1"));
    assert_eq!(reply.json()["message"], "process expired");
}

#[tokio::test(start_paused = true)]
async fn a_delay_alone_delays_the_normal_answer() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        delay_ms: Some(30_000),
        ..FaultScript::default()
    });
    let started = tokio::time::Instant::now();

    let reply = set_document(&emulator, "proc-awaiting-document").await;

    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(reply.status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_client_times_out() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        delay_ms: Some(30_000),
        status: Some(500),
        ..FaultScript::default()
    });

    let error = set_document_request(&emulator, "proc-expired")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect_err("the client gives up first");

    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_an_error_for_the_client() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        drop_connection: true,
        status: Some(200),
        ..FaultScript::default()
    });

    // HTTP/1.1: the connection closes before the head is written.
    let error = set_document_request(&emulator, "proc-awaiting-document")
        .send()
        .await
        .expect_err("the client sees the connection lost");

    assert!(error.is_request() && !error.is_timeout(), "{error:?}");
    // The next call is answered normally, and the dropped one never reached the process.
    assert_eq!(
        set_document(&emulator, "proc-awaiting-document")
            .await
            .status,
        200
    );
    assert_eq!(emulator.requests().len(), 2);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_scripted_delay() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        delay_ms: Some(3_600_000),
        ..FaultScript::default()
    });
    let pending = tokio::spawn(set_document_request(&emulator, "proc-expired").send());
    while emulator.requests().is_empty() {
        tokio::task::yield_now().await;
    }

    tokio::time::timeout(Duration::from_secs(10), emulator.shutdown())
        .await
        .expect("shutdown completes");

    let outcome = pending.await.expect("task completes");
    let outcome = match outcome {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(
        outcome.is_err(),
        "the delayed call ends as a lost connection"
    );
}

#[tokio::test]
async fn a_dropped_connection_resets_the_stream_over_http2() {
    let emulator = start().await;
    emulator.script_fault(FaultScript {
        drop_connection: true,
        ..FaultScript::default()
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client builds");

    let outcome = h2
        .post(format!(
            "{}/client/v1/process/proc-expired/document",
            emulator.base_url()
        ))
        .body(CPF_BODY)
        .send()
        .await;

    assert!(outcome.is_err(), "the client sees the stream reset");
}
