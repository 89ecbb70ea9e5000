//! The real binary: a bad configuration is one clear line and a non-zero
//! exit; `serve --emulator` starts, reports SERVING and stops on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const BIN: &str = env!("CARGO_BIN_EXE_unico-facade");

#[test]
fn a_bad_configuration_exits_non_zero_with_one_line() {
    let cases: [&[&str]; 3] = [
        &["serve", "--idcloud-api-url", "not a url"],
        &["serve", "--emulator", "--id-api-url", "http://127.0.0.1:1"],
        &[
            "serve",
            "--listen",
            "127.0.0.1:1",
            "--idcloud-api-url",
            "http://h/?q=1",
        ],
    ];
    for args in cases {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("unico-facade: "), "{stderr}");
    }
}

#[test]
fn a_bad_flag_or_value_is_one_line_naming_it() {
    let cases: [&[&str]; 4] = [
        &["serve", "--environment", "staging"],
        &["serve", "--upstream-timeout", "soon"],
        &["serve", "--no-such-flag"],
        &["serve", "--upstream-rate-limit", "ten"],
    ];
    for args in cases {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("unico-facade: "), "{stderr}");
        assert!(
            stderr.contains(args[args.len() - 1]) || stderr.contains(args[1]),
            "{stderr}"
        );
    }
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("UNICO_FACADE_LISTEN"));
}

#[tokio::test]
async fn serve_with_the_emulator_reports_serving_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--drain-delay",
            "0s",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_guard = KillOnDrop(child.id());
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut saw_emulator_warning = false;
    let addr = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line");
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if json["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIMULATED"))
        {
            saw_emulator_warning = json["level"] == "WARN";
        }
        if json["message"] == "serving gRPC" {
            break json["listen"].as_str().unwrap().to_owned();
        }
    };
    assert!(saw_emulator_warning, "emulator mode is announced loudly");

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    std::mem::forget(child_guard);
}

/// Kills the child if the test fails before it stopped it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

#[tokio::test]
async fn sigterm_under_load_drains_and_loses_no_call_in_flight() {
    let grpc = crate::helpers::closed_port().await.port();
    let emulator = crate::helpers::closed_port().await.port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--emulator",
            "--listen",
            &format!("127.0.0.1:{grpc}"),
            "--emulator-listen",
            &format!("127.0.0.1:{emulator}"),
            "--drain-delay",
            "500ms",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let endpoint = format!("http://127.0.0.1:{grpc}");
    let channel = loop {
        if let Ok(channel) = tonic::transport::Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        {
            break channel;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut health = HealthClient::new(channel.clone());
    // Every call stalls 800 ms upstream: they are all in flight at SIGTERM.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{emulator}/__emulator/faults"))
        .body(r#"{"delay_ms": 800, "times": 20}"#)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let client = unico_facade::pb::identity_v1::process_service_client::ProcessServiceClient::new(
        channel.clone(),
    );
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let mut client = client.clone();
            let mut request =
                tonic::Request::new(unico_facade::pb::identity_v1::SetProcessDocumentRequest {
                    process_id: format!("awaiting-load-{i}"),
                    dui_type: unico_facade::pb::identity_v1::DuiType::BrCpf as i32,
                    dui_value: "52998224725".into(),
                });
            request
                .metadata_mut()
                .insert("authorization", "Bearer emulator-token".parse().unwrap());
            tokio::spawn(async move { client.set_process_document(request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    loop {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == ServingStatus::NotServing {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "health turns NOT_SERVING"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for call in calls {
        call.await
            .unwrap()
            .expect("no call in flight at SIGTERM is lost");
    }
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    std::mem::forget(guard);
}
