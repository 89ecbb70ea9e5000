//! `unico-facade health`, the real binary against a real server: exit 0 only
//! when the entry is SERVING; otherwise a non-zero exit and one line on
//! stderr. The binary runs on the blocking pool, never on the runtime the
//! server runs on.

use std::{
    net::SocketAddr,
    process::{Command, Output},
    time::Duration,
};

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{TestApp, closed_port, spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_unico-facade");

/// Runs `unico-facade health --addr ADDR` with `extra` arguments.
async fn health(addr: SocketAddr, extra: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(["health", "--addr", &addr.to_string()])
        .args(extra)
        .env_remove("UNICO_FACADE_HEALTH_ADDR")
        .env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("the blocking task completes")
}

/// Asserts a failed check: exit status 1 and exactly one line on stderr,
/// which contains `expected`.
fn assert_unhealthy(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("unico-facade: health: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(output.stdout.is_empty());
}

fn assert_healthy(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn a_serving_server_exits_zero() {
    let app = spawn_app().await;

    assert_healthy(&health(app.addr, &[]).await);
}

#[tokio::test]
async fn a_known_service_that_is_serving_exits_zero() {
    let app = spawn_app().await;

    let output = health(app.addr, &["--service", "unico.identity.v1.ProcessService"]).await;

    assert_healthy(&output);
}

#[tokio::test]
async fn an_unknown_service_exits_non_zero() {
    let app = spawn_app().await;

    let output = health(app.addr, &["--service", "unico.identity.v1.NoSuchService"]).await;

    assert_unhealthy(&output, "SERVICE_UNKNOWN");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unico.identity.v1.NoSuchService"));
}

#[tokio::test]
async fn a_closed_port_exits_non_zero() {
    let addr = closed_port().await;

    let output = health(addr, &[]).await;

    assert_unhealthy(&output, "unreachable");
}

#[tokio::test]
async fn a_draining_server_exits_non_zero() {
    let mut app = spawn_app_with(|s| s.drain_delay = Duration::from_secs(30)).await;
    app.begin_stop();
    while whole_server_health(&app).await != ServingStatus::NotServing {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let output = health(app.addr, &[]).await;

    assert_unhealthy(&output, "NOT_SERVING");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections (the kernel completes the handshake) but never
    // speaks HTTP/2.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();

    let output = health(addr, &["--timeout", "300ms"]).await;

    assert_unhealthy(&output, "no answer from");
    drop(silent);
}

#[tokio::test]
async fn a_malformed_address_is_a_usage_error() {
    let output = tokio::task::spawn_blocking(|| {
        Command::new(BIN)
            .args(["health", "--addr", "https://127.0.0.1:50051"])
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("plaintext"));
}

async fn whole_server_health(app: &TestApp) -> ServingStatus {
    let answer = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the health service answers");
    ServingStatus::try_from(answer.into_inner().status).expect("a known status")
}
