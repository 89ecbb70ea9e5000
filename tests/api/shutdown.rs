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
