//! The `/__emulator/` admin API, as a standalone emulator's users drive it.

use serde_json::json;

use super::{client, send, start};

#[tokio::test]
async fn faults_scripted_over_http_apply_and_can_be_cleared() {
    let emulator = start().await;
    let base = emulator.base_url();
    let create = || {
        client()
            .post(format!("{base}/processes/v1"))
            .bearer_auth("emulator-token")
            .header("apikey", "emulator-apikey")
            .body("{}")
    };

    let scripted = send(
        client()
            .post(format!("{base}/__emulator/faults"))
            .json(&json!({
                "endpoint": "create-document-process",
                "status": 503,
                "headers": [["retry-after", "1"]],
                "times": 2,
            })),
    )
    .await;
    let faulted = send(create()).await;
    let cleared = send(client().delete(format!("{base}/__emulator/faults"))).await;
    let normal = send(create()).await;

    assert_eq!(scripted.status, 204);
    assert_eq!(
        (faulted.status, faulted.header("retry-after")),
        (503, Some("1"))
    );
    assert_eq!(cleared.status, 204);
    assert_eq!(normal.status, 400);
}

#[tokio::test]
async fn an_invalid_fault_script_is_refused() {
    let emulator = start().await;
    let url = format!("{}/__emulator/faults", emulator.base_url());
    let scripts = [
        "not json".to_owned(),
        json!({ "status": 42 }).to_string(),
        json!({ "status": 101 }).to_string(),
        json!({ "status": 503, "headers": [["bad header", "x"]] }).to_string(),
        json!({ "endpoint": "elsewhere" }).to_string(),
        json!({ "delayMs": 10 }).to_string(),
    ];
    for script in scripts {
        let reply = send(client().post(&url).body(script.clone())).await;
        assert_eq!(reply.status, 400, "{script}");
        assert!(reply.json()["error"].is_string(), "{script}");
    }
}

#[tokio::test]
async fn recorded_requests_are_listed_with_text_bodies_and_can_be_cleared() {
    let emulator = start().await;
    let base = emulator.base_url();
    send(
        client()
            .post(format!("{base}/client/v1/process/proc-expired/document"))
            .bearer_auth("emulator-token")
            .body(r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"1"}"#),
    )
    .await;

    let listed = send(client().get(format!("{base}/__emulator/requests"))).await;
    let cleared = send(client().delete(format!("{base}/__emulator/requests"))).await;
    let after = send(client().get(format!("{base}/__emulator/requests"))).await;

    let listed = listed.json();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "admin calls are not recorded"
    );
    assert_eq!(listed[0]["endpoint"], "set-process-document");
    assert_eq!(listed[0]["process_id"], "proc-expired");
    assert_eq!(
        listed[0]["body"],
        r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"1"}"#
    );
    assert_eq!(cleared.status, 204);
    assert_eq!(after.json(), json!([]));
}

#[tokio::test]
async fn the_fixture_list_shows_seeded_ids_and_current_states() {
    let emulator = start().await;
    let base = emulator.base_url();
    send(
        client()
            .post(format!(
                "{base}/client/v1/process/proc-awaiting-document/document"
            ))
            .bearer_auth("emulator-token")
            .body(r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"1"}"#),
    )
    .await;

    let listed = send(client().get(format!("{base}/__emulator/processes")))
        .await
        .json();

    let processes = &listed["set-process-document"]["processes"];
    let state_of = |id: &str| {
        processes
            .as_array()
            .and_then(|all| all.iter().find(|p| p["processId"] == id))
            .map(|p| p["state"].clone())
    };
    assert_eq!(
        state_of("proc-awaiting-document"),
        Some(json!("DOCUMENT_SET"))
    );
    assert_eq!(state_of("proc-expired"), Some(json!("EXPIRED")));
    let documents = &listed["create-document-process"]["documents"];
    assert_eq!(documents[0]["documentId"], "doc-seeded-cnh");
    assert_eq!(documents[0]["code"], "52998224725");
    assert!(
        listed["create-document-process"]["biometricProcesses"]
            .as_array()
            .is_some_and(|all| all.iter().any(|b| b["authProcessId"] == "auth-jwt-used"))
    );
}

#[tokio::test]
async fn unknown_admin_paths_are_not_recorded() {
    let emulator = start().await;

    let reply = send(client().get(format!("{}/__emulator/nothing", emulator.base_url()))).await;

    assert_eq!(reply.status, 404);
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn serve_runs_a_standalone_emulator_until_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::emulator::serve(
        listener,
        crate::emulator::EmulatorConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let reply = send(client().get(format!("http://{addr}/__emulator/processes"))).await;
    let _ = stop.send(());

    assert_eq!(reply.status, 200);
    let served = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("stops on the signal");
    assert!(matches!(served, Ok(Ok(()))), "{served:?}");
}
