//! Running behind a mesh: the concurrency limit, the outgoing rate limit,
//! the drain on shutdown, per-upstream health, TLS and gRPC-Web.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use unico_facade::{config::CorsOrigins, emulator::FaultScript, rate_limit::Rate};

use crate::helpers::{
    Expected, TestApp, answer, assert_status, authorized, set_cpf, spawn_app, spawn_app_with,
};

fn stall(ms: u64, times: u32) -> FaultScript {
    FaultScript {
        delay_ms: Some(ms),
        times,
        ..FaultScript::default()
    }
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

fn call(
    app: &TestApp,
    id: &str,
) -> tokio::task::JoinHandle<
    Result<
        tonic::Response<unico_facade::pb::identity_v1::SetProcessDocumentResponse>,
        tonic::Status,
    >,
> {
    let mut client = app.process.clone();
    let request = authorized(set_cpf(id));
    tokio::spawn(async move { client.set_process_document(request).await })
}

async fn wait_for_requests(app: &TestApp, n: usize) {
    let started = Instant::now();
    while app.requests().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the upstream got {} of {n}",
            app.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_refused_fast_while_admitted_ones_succeed() {
    let app = spawn_app_with(|s| s.max_concurrent_calls = 2).await;
    app.script(stall(500, 2));
    let admitted = [call(&app, "awaiting-1"), call(&app, "awaiting-2")];
    wait_for_requests(&app, 2).await;

    let started = Instant::now();
    let status = call(&app, "awaiting-3").await.unwrap().unwrap_err();

    // Refused at once, not after the 500 ms the admitted calls take.
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "refused at once: {:?}",
        started.elapsed()
    );
    let details = assert_status(
        &status,
        Expected {
            code: Code::ResourceExhausted,
            reason: "OVERLOADED",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(details.retry_info().is_some());
    for call in admitted {
        call.await.unwrap().expect("an admitted call succeeds");
    }
    assert_eq!(
        health_of(&app, "").await,
        ServingStatus::Serving,
        "health is not limited"
    );
    call(&app, "awaiting-4")
        .await
        .unwrap()
        .expect("capacity is back");
}

#[tokio::test]
async fn a_burst_reaches_the_upstream_at_or_under_the_configured_rate() {
    let rate: Rate = "20/s".parse().unwrap();
    let app = spawn_app_with(|s| s.upstream_rate_limit = Some(rate)).await;
    let started = Instant::now();

    let calls: Vec<_> = (0..50)
        .map(|i| call(&app, &format!("awaiting-{i}")))
        .collect();
    let mut done = Vec::new();
    for call in calls {
        call.await.unwrap().expect("queued within the deadline");
        done.push(started.elapsed());
    }

    done.sort();
    // 50 calls at 20/s: slots every 50 ms, the last at 2.45 s.
    assert!(done[49] >= Duration::from_millis(2_400), "{:?}", done[49]);
    // Any 21 consecutive calls span at least a second (slots 50 ms apart);
    // the slack absorbs completion jitter on a loaded machine, while an
    // unlimited burst would finish all 50 within a few milliseconds.
    for i in 20..50 {
        let window = done[i] - done[i - 20];
        assert!(
            window >= Duration::from_millis(800),
            "21 calls within {window:?}"
        );
    }
    assert_eq!(app.requests().len(), 50);
}

#[tokio::test]
async fn a_call_that_cannot_get_a_slot_before_its_deadline_is_refused_at_once() {
    let app = spawn_app_with(|s| s.upstream_rate_limit = Some("2/s".parse().unwrap())).await;
    for i in 0..3 {
        // Fill the schedule: slots at 0, 0.5 s and 1 s.
        std::mem::drop(call(&app, &format!("awaiting-fill-{i}")));
    }
    wait_for_requests(&app, 1).await;
    let request = authorized(set_cpf("awaiting-late"));

    let (status, elapsed) = app
        .set_document_failing_within(request, Duration::from_millis(300))
        .await;

    // Refused at once rather than queued until the deadline (300 ms).
    assert!(elapsed < Duration::from_millis(250), "{elapsed:?}");
    let details = assert_status(
        &status,
        Expected {
            code: Code::ResourceExhausted,
            reason: "UPSTREAM_RATE_LIMIT_QUEUE_FULL",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(details.retry_info().is_some());
}

#[tokio::test]
async fn shutdown_drains_reporting_not_serving_and_loses_no_call_in_flight() {
    let mut app = spawn_app_with(|s| s.drain_delay = Duration::from_millis(400)).await;
    app.script(stall(600, 10));
    let in_flight: Vec<_> = (0..10)
        .map(|i| call(&app, &format!("awaiting-{i}")))
        .collect();
    wait_for_requests(&app, 10).await;

    app.begin_stop();
    let started = Instant::now();
    while health_of(&app, "").await != ServingStatus::NotServing {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "health turns NOT_SERVING"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        health_of(&app, "unico.identity.v1.ProcessService").await,
        ServingStatus::NotServing
    );
    // Still accepting during the drain delay: a late call is served.
    call(&app, "awaiting-late")
        .await
        .unwrap()
        .expect("accepted during the drain");

    for call in in_flight {
        call.await.unwrap().expect("no in-flight call is lost");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_outage_shows_in_its_own_health_not_in_the_servers() {
    let cooldown = Duration::from_millis(200);
    let app = spawn_app_with(|s| {
        s.circuit = unico_facade::circuit::CircuitSettings {
            failures: 3,
            cooldown,
        }
    })
    .await;
    assert_eq!(
        health_of(&app, "unico.upstream.IdCloudApi").await,
        ServingStatus::Serving
    );
    app.script(FaultScript {
        times: 3,
        ..answer(503, "<html>down</html>")
    });
    for i in 0..3 {
        assert_eq!(
            call(&app, &format!("awaiting-{i}"))
                .await
                .unwrap()
                .unwrap_err()
                .code(),
            Code::Unavailable
        );
    }

    // The family's circuit opened: its entry says so, the other's and the
    // process's do not.
    assert_eq!(
        health_of(&app, "unico.upstream.IdCloudApi").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        health_of(&app, "unico.upstream.IdApi").await,
        ServingStatus::Serving
    );
    assert_eq!(
        health_of(&app, "").await,
        ServingStatus::Serving,
        "the process itself is fine"
    );

    // After the cool-down, the probe's success closes the circuit.
    tokio::time::sleep(cooldown).await;
    call(&app, "awaiting-ok")
        .await
        .unwrap()
        .expect("the upstream is back");
    assert_eq!(
        health_of(&app, "unico.upstream.IdCloudApi").await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn client_errors_of_the_vendor_do_not_mark_it_down() {
    let app = spawn_app().await;
    for _ in 0..5 {
        call(&app, "no-such-process").await.unwrap().unwrap_err();
    }
    assert_eq!(
        health_of(&app, "unico.upstream.IdCloudApi").await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn tls_on_the_listener_serves_a_client_that_trusts_the_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let app = spawn_app_with(|s| {
        s.tls = Some(unico_facade::config::TlsFiles {
            cert_pem: cert_pem.clone().into_bytes(),
            key_pem: key_pem.into(),
        });
    })
    .await;

    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel =
        tonic::transport::Channel::from_shared(format!("https://localhost:{}", app.addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("TLS handshake");
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
}

#[tokio::test]
async fn grpc_web_is_off_by_default_and_served_with_cors_when_enabled() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    // An empty HealthCheckRequest as one gRPC-Web frame: flag 0, length 0.
    let frame = vec![0u8, 0, 0, 0, 0];
    let post = |addr: std::net::SocketAddr| {
        http.post(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", "https://app.example")
            .body(frame.clone())
            .send()
    };

    let off = spawn_app().await;
    let refused = post(off.addr).await;
    assert!(
        refused.is_err() || !refused.unwrap().status().is_success(),
        "no HTTP/1.1 gRPC-Web by default"
    );

    let on = spawn_app_with(|s| {
        s.grpc_web = Some(CorsOrigins::parse(&["https://app.example".to_owned()]).unwrap())
    })
    .await;
    let response = post(on.addr).await.expect("HTTP/1.1 accepted");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("grpc-status:0"),
        "trailers in the body: {text:?}"
    );
}

async fn wait_for_abandoned(app: &TestApp, n: usize) {
    let started = Instant::now();
    while app.emulator.abandoned_requests() < n {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the upstream saw {} abandoned requests, expected {n}",
            app.emulator.abandoned_requests()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_deadline_ends_the_call_in_time_and_the_upstream_sees_it_abandoned() {
    let app = spawn_app().await;
    app.script(stall(5_000, 1));
    let request = authorized(set_cpf("awaiting-slow"));

    let (status, elapsed) = app
        .set_document_failing_within(request, Duration::from_millis(300))
        .await;

    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        elapsed < Duration::from_millis(300 + 150),
        "ended after {elapsed:?}"
    );
    wait_for_abandoned(&app, 1).await;
}

#[tokio::test]
async fn a_call_the_client_cancels_cancels_its_upstream_request() {
    let app = spawn_app().await;
    app.script(stall(5_000, 1));
    let in_flight = call(&app, "awaiting-cancelled");
    wait_for_requests(&app, 1).await;
    assert_eq!(app.emulator.abandoned_requests(), 0);

    in_flight.abort();

    wait_for_abandoned(&app, 1).await;
}
