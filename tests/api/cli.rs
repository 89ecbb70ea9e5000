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
fn an_unknown_flag_value_is_refused_by_the_parser() {
    let output = Command::new(BIN)
        .args(["serve", "--environment", "staging"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("staging"));
}

#[tokio::test]
async fn serve_with_the_emulator_reports_serving_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
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
