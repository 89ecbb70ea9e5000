//! Graceful shutdown: a call in flight when the shutdown begins still
//! completes.

use unico_facade::emulator::FaultScript;

use crate::helpers::{set_cpf, spawn_app};

#[tokio::test]
async fn an_in_flight_call_finishes_during_shutdown() {
    let mut app = spawn_app().await;
    app.script(FaultScript {
        delay_ms: Some(400),
        ..FaultScript::default()
    });
    let client = app.process.clone();
    let in_flight = tokio::spawn(async move {
        let mut client = client;
        client
            .set_process_document(crate::helpers::authorized(set_cpf(
                "proc-awaiting-document",
            )))
            .await
    });
    // Wait until the upstream has the request, so the call is truly in flight.
    while app.requests().is_empty() {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    app.stop().await;

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(
        response.into_inner().process.unwrap().id,
        "proc-awaiting-document"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn calls_still_open_when_the_grace_runs_out_are_answered_logged_and_counted() {
    let (logs, _guard) = crate::helpers::capture_trace_logs();
    let mut app = crate::helpers::spawn_app_with(|s| {
        s.shutdown_grace = std::time::Duration::from_millis(300);
    })
    .await;
    app.script(FaultScript {
        delay_ms: Some(10_000),
        ..FaultScript::default()
    });
    let client = app.process.clone();
    let in_flight = tokio::spawn(async move {
        let mut client = client;
        client
            .set_process_document(crate::helpers::authorized(set_cpf("awaiting-forever")))
            .await
    });
    while app.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();

    app.stop().await;

    let status = in_flight.await.unwrap().expect_err("abandoned");
    crate::helpers::assert_status(
        &status,
        crate::helpers::Expected {
            code: tonic::Code::Unavailable,
            reason: "SHUTDOWN_GRACE_EXPIRED",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    assert_eq!(
        details.error_info().unwrap().metadata["stage"],
        "processing"
    );
    assert!(
        details.retry_info().is_none(),
        "the call may have reached the vendor"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "stopped after {:?}",
        started.elapsed()
    );
    let logs = logs.text();
    assert!(
        logs.lines()
            .any(|l| l.contains("call finished") && l.contains("SHUTDOWN_GRACE_EXPIRED")),
        "no call line for the abandoned call"
    );
}
