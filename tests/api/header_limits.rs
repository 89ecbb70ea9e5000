//! Bad request headers and what they do to the other calls on their
//! connection. Headers over `--max-header-list-bytes` refuse their own
//! stream (HTTP 431) and nothing else. Two cases are the HTTP/2 library's
//! (h2) connection errors, which reset every stream of the connection: a
//! header list over four times the limit (GOAWAY ENHANCE_YOUR_CALM, h2's
//! defence against HPACK abuse) and a header value with a control byte
//! (GOAWAY PROTOCOL_ERROR: h2 reports an invalid value as an HPACK decoding
//! failure). The facade cannot answer those siblings, but logs and counts
//! them; these tests pin the behaviour the README documents.

use std::time::{Duration, Instant};

use prost::Message;
use unico_facade::emulator::FaultScript;

use crate::{
    helpers::{TestApp, millis, scrape, set_cpf, spawn_app_with, value_of},
    wire::{
        Answer, DATA, END_STREAM, RawConnection, SET_DOCUMENT, Wire, frame, grpc_post,
        set_document_frame,
    },
};

async fn app() -> TestApp {
    spawn_app_with(|s| s.admin_listen = Some("127.0.0.1:0".parse().unwrap())).await
}

/// A call that stays in flight upstream for `ms`.
fn stall(ms: u64) -> FaultScript {
    FaultScript {
        delay_ms: Some(ms),
        ..FaultScript::default()
    }
}

async fn wait_for_upstream_requests(app: &TestApp, n: usize) {
    let started = Instant::now();
    while app.requests().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never reached the upstream"
        );
        tokio::time::sleep(millis(5)).await;
    }
}

/// The sibling's upstream request is dropped with it.
async fn wait_for_abandoned_upstream_request(app: &TestApp) {
    let started = Instant::now();
    while app.emulator.abandoned_requests() < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the upstream request was kept"
        );
        tokio::time::sleep(millis(10)).await;
    }
}

async fn cancelled_count(app: &TestApp) -> f64 {
    let started = Instant::now();
    loop {
        let text = scrape(app).await;
        let series = "unico_facade_rpc_interrupted_total{method=\"SetProcessDocument\",cause=\"client_cancelled\"}";
        if text.contains(series) || started.elapsed() > Duration::from_secs(3) {
            return value_of(&text, series);
        }
        tokio::time::sleep(millis(20)).await;
    }
}

#[tokio::test]
async fn headers_over_the_limit_refuse_their_stream_and_spare_its_siblings() {
    let app = app().await;
    app.script(stall(400));
    let mut wire = Wire::connect(app.addr).await;
    let (sibling, mut body) = wire
        .open(grpc_post(SET_DOCUMENT).body(()).unwrap(), false)
        .await;
    body.send_data(set_document_frame("awaiting-sibling"), true)
        .unwrap();
    wait_for_upstream_requests(&app, 1).await;

    // 20 KiB of metadata: over the 16 KiB limit, under four times it.
    let big = grpc_post(SET_DOCUMENT)
        .header("x-big", "a".repeat(20 * 1024))
        .body(())
        .unwrap();
    let (refused, _) = wire.open(big, true).await;
    match refused.await {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(error) => assert_eq!(error.reason(), Some(h2::Reason::PROTOCOL_ERROR), "{error}"),
    }

    let answer = Answer::of(sibling).await;
    assert_eq!(
        answer.status().code(),
        tonic::Code::Ok,
        "{:?}",
        answer.status()
    );
    // The connection still serves new calls.
    let again = wire
        .call(
            grpc_post(SET_DOCUMENT).body(()).unwrap(),
            set_document_frame("awaiting-after"),
        )
        .await;
    assert_eq!(again.status().code(), tonic::Code::Ok);
    assert_eq!(
        app.requests().len(),
        2,
        "the refused stream never reached the upstream"
    );
}

/// A raw connection with one call in flight upstream on stream 1.
async fn raw_with_a_call_in_flight(app: &TestApp) -> RawConnection {
    app.script(stall(2_000));
    let mut raw = RawConnection::connect(app.addr).await;
    raw.grpc_headers(1, SET_DOCUMENT, &[]).await;
    let message = frame(0, &set_cpf("awaiting-sibling").encode_to_vec());
    raw.write_frame(DATA, END_STREAM, 1, &message).await;
    wait_for_upstream_requests(app, 1).await;
    raw
}

#[tokio::test]
async fn headers_over_four_times_the_limit_end_the_connection_and_its_calls_are_counted() {
    let app = app().await;
    let mut raw = raw_with_a_call_in_flight(&app).await;

    let huge = "a".repeat(64 * 1024);
    raw.grpc_headers(3, SET_DOCUMENT, &[(b"x-huge", huge.as_bytes())])
        .await;

    assert_eq!(raw.goaway_code().await, 0xb, "ENHANCE_YOUR_CALM");
    assert_eq!(
        cancelled_count(&app).await,
        1.0,
        "the sibling is logged and counted"
    );
    wait_for_abandoned_upstream_request(&app).await;
}

#[tokio::test]
async fn a_control_byte_in_a_header_value_ends_the_connection_and_its_calls_are_counted() {
    let app = app().await;
    let mut raw = raw_with_a_call_in_flight(&app).await;

    raw.grpc_headers(3, SET_DOCUMENT, &[(b"x-bad", b"a\x01b")])
        .await;

    assert_eq!(raw.goaway_code().await, 0x1, "PROTOCOL_ERROR");
    assert_eq!(
        cancelled_count(&app).await,
        1.0,
        "the sibling is logged and counted"
    );
    wait_for_abandoned_upstream_request(&app).await;
}
