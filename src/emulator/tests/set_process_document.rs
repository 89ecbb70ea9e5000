//! `POST /client/v1/process/{processId}/document`: states, messages byte for byte, tokens, and
//! hostile process ids.

use serde_json::json;

use super::{Reply, client, jwt, raw_post, send, start, unix_now};
use crate::emulator::{EmulatedEndpoint, Emulator};

const CPF_BODY: &str = r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"12345678901"}"#;

async fn set_document(emulator: &Emulator, raw_id: &str, body: &str) -> Reply {
    set_document_as(emulator, raw_id, Some("Bearer emulator-token"), body).await
}

async fn set_document_as(
    emulator: &Emulator,
    raw_id: &str,
    authorization: Option<&str>,
    body: &str,
) -> Reply {
    let url = format!(
        "{}/client/v1/process/{raw_id}/document",
        emulator.base_url()
    );
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    send(request).await
}

fn gateway_error(code: u32, message: &str) -> String {
    format!(r#"{{"code":{code},"message":"{message}","details":[]}}"#)
}

#[tokio::test]
async fn a_process_awaiting_its_document_takes_it_once() {
    let emulator = start().await;

    let first = set_document(&emulator, "proc-awaiting-document", CPF_BODY).await;
    let second = set_document(&emulator, "proc-awaiting-document", CPF_BODY).await;

    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.body,
        r#"{"process":{"id":"proc-awaiting-document","person":{"duiType":"DUI_TYPE_BR_CPF","duiValue":"12345678901"}}}"#
    );
    assert_eq!(second.status, 400);
    assert_eq!(
        second.body,
        gateway_error(9, "document already set, cannot be modified")
    );
}

#[tokio::test]
async fn ids_with_the_awaiting_prefix_are_created_on_first_sight() {
    let emulator = start().await;
    let body = r#"{"duiType":"DUI_TYPE_MX_CURP","duiValue":"GODE561231HDFRRN09"}"#;

    let first = set_document(&emulator, "awaiting-1", body).await;
    let other = set_document(&emulator, "awaiting-2", body).await;
    let again = set_document(&emulator, "awaiting-1", body).await;

    assert_eq!((first.status, other.status, again.status), (200, 200, 400));
    assert_eq!(first.json()["process"]["id"], "awaiting-1");
    assert_eq!(
        first.json()["process"]["person"]["duiType"],
        "DUI_TYPE_MX_CURP"
    );
}

#[tokio::test]
async fn each_seeded_process_answers_its_documented_error() {
    let emulator = start().await;
    let cases = [
        (
            "proc-document-set",
            400,
            gateway_error(9, "document already set, cannot be modified"),
        ),
        ("proc-expired", 400, gateway_error(9, "process expired")),
        (
            "proc-finished",
            400,
            gateway_error(9, "process already finished"),
        ),
        (
            "proc-not-awaiting-document",
            400,
            gateway_error(9, "process is not awaiting for document"),
        ),
        (
            "proc-flow-requires-document",
            400,
            gateway_error(9, "flow does not allow optional document"),
        ),
        (
            "proc-internal-error",
            500,
            gateway_error(99999, "Internal failure! Try again later"),
        ),
        (
            "no-such-process",
            404,
            gateway_error(
                5,
                "error getting process: rpc error: code = NotFound desc = process not found",
            ),
        ),
        ("proc-rate-limited", 429, String::new()),
    ];
    for (id, status, body) in cases {
        let reply = set_document(&emulator, id, CPF_BODY).await;
        assert_eq!((reply.status, &reply.body), (status, &body), "{id}");
    }
    // The page: "No detailed error code: only the HTTP status".
    let limited = set_document(&emulator, "proc-rate-limited", CPF_BODY).await;
    assert_eq!(limited.header("retry-after"), None);
}

#[tokio::test]
async fn token_problems_answer_401_in_plain_text() {
    let emulator = start().await;
    let expired_jwt = format!("Bearer {}", jwt(&json!({ "exp": unix_now() - 60 })));
    let cases = [
        (None, "Jwt is missing"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "Jwt is missing"),
        (Some("Bearer ".to_owned()), "Jwt is missing"),
        (
            Some("Bearer emulator-expired-token".to_owned()),
            "Jwt is expired",
        ),
        // Only issued tokens are; a JWT is not, expired or not.
        (Some(expired_jwt), "Jwt header is an invalid JSON"),
        (
            Some("Bearer not-a-jwt".to_owned()),
            "Jwt header is an invalid JSON",
        ),
        (
            Some("Bearer a.b.c".to_owned()),
            "Jwt header is an invalid JSON",
        ),
    ];
    for (authorization, message) in cases {
        let reply = set_document_as(
            &emulator,
            "proc-awaiting-document",
            authorization.as_deref(),
            CPF_BODY,
        )
        .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, message),
            "{authorization:?}"
        );
        assert_eq!(reply.header("content-type"), Some("text/plain"));
    }
    // None of them reached the process.
    assert_eq!(
        set_document(&emulator, "proc-awaiting-document", CPF_BODY)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_jwt_is_not_a_token_however_far_its_exp() {
    let emulator = start().await;
    let token = format!(
        "Bearer {}",
        jwt(&json!({ "exp": unix_now() + 3600, "scope": "*" }))
    );

    let reply = set_document_as(&emulator, "awaiting-jwt", Some(&token), CPF_BODY).await;

    assert_eq!(
        (reply.status, reply.body.as_str()),
        (401, "Jwt header is an invalid JSON")
    );
}

#[tokio::test]
async fn body_problems_answer_code_3_with_the_documented_messages() {
    let emulator = start().await;
    let long = "1".repeat(321);
    let cases = [
        ("not json".to_owned(), "dui_type is required"),
        ("[1,2]".to_owned(), "dui_type is required"),
        ("{}".to_owned(), "dui_type is required"),
        (
            r#"{"duiType":"","duiValue":"1"}"#.to_owned(),
            "dui_type is required",
        ),
        (
            r#"{"duiType":"DUI_TYPE_UNSPECIFIED","duiValue":"1"}"#.to_owned(),
            "dui_type is required",
        ),
        (
            r#"{"duiType":"DUI_TYPE_NG_NIN","duiValue":"1"}"#.to_owned(),
            "dui_type is invalid",
        ),
        (
            r#"{"duiType":7,"duiValue":"1"}"#.to_owned(),
            "dui_type is invalid",
        ),
        (
            r#"{"duiType":"DUI_TYPE_BR_CPF"}"#.to_owned(),
            "dui_value is required",
        ),
        (
            r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"  "}"#.to_owned(),
            "dui_value is required",
        ),
        (
            format!(r#"{{"duiType":"DUI_TYPE_BR_CPF","duiValue":"{long}"}}"#),
            "dui_value exceeds maximum length",
        ),
    ];
    for (body, message) in cases {
        let reply = set_document(&emulator, "proc-awaiting-document", &body).await;
        assert_eq!(
            (reply.status, reply.body),
            (400, gateway_error(3, message)),
            "{body}"
        );
    }
    let max = format!(
        r#"{{"dui_type":"DUI_TYPE_US_SSN","dui_value":"{}"}}"#,
        "é".repeat(320)
    );
    assert_eq!(
        set_document(&emulator, "proc-awaiting-document", &max)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_answered_like_any_bad_body() {
    let emulator = start().await;
    let url = format!(
        "{}/client/v1/process/proc-awaiting-document/document",
        emulator.base_url()
    );

    let reply = send(
        client()
            .post(url)
            .bearer_auth("emulator-token")
            .body(vec![0xFF, 0xFE, 0x00, 0x7B]),
    )
    .await;

    assert_eq!(
        (reply.status, reply.body),
        (400, gateway_error(3, "dui_type is required"))
    );
}

#[tokio::test]
async fn checks_run_token_then_process_id_then_body_then_process() {
    let emulator = start().await;

    let bad_token_and_body = set_document_as(&emulator, "nope", Some("Bearer x"), "{}").await;
    let bad_body_and_process = set_document(&emulator, "nope", "{}").await;
    // The page lists `process id is invalid` before the body's errors: a
    // blank id with a bad body answers the id.
    let blank_process_and_bad_body = set_document(&emulator, "%20", "{}").await;
    let empty_process_and_no_value =
        set_document(&emulator, "", r#"{"duiType":"DUI_TYPE_BR_CPF"}"#).await;
    let blank_process = set_document(&emulator, "%20", CPF_BODY).await;

    assert_eq!(bad_token_and_body.status, 401);
    assert_eq!(
        bad_body_and_process.body,
        gateway_error(3, "dui_type is required")
    );
    for (case, reply) in [
        ("blank id, bad body", &blank_process_and_bad_body),
        ("empty id, no value", &empty_process_and_no_value),
        ("blank id, good body", &blank_process),
    ] {
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (400, gateway_error(3, "process id is invalid").as_str()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn hostile_process_ids_are_recorded_raw_and_decoded() {
    let emulator = start().await;
    let not_found = gateway_error(
        5,
        "error getting process: rpc error: code = NotFound desc = process not found",
    );
    let cases = [
        ("..%2Fx", "../x", 404, not_found.clone()),
        ("..", "..", 404, not_found.clone()),
        ("%2e%2e", "..", 404, not_found.clone()),
        ("a%00b%0D%0A", "a\0b\r\n", 404, not_found.clone()),
        ("%25zz%", "%zz%", 404, not_found.clone()),
        ("%FF", "\u{FFFD}", 400, gateway_error(3, "process id is invalid")),
        (
            "awaiting-%E2%82%AC",
            "awaiting-€",
            200,
            r#"{"process":{"id":"awaiting-€","person":{"duiType":"DUI_TYPE_BR_CPF","duiValue":"12345678901"}}}"#.to_owned(),
        ),
    ];
    for (raw_id, _, status, body) in &cases {
        let path = format!("/client/v1/process/{raw_id}/document");
        let reply = raw_post(emulator.local_addr(), &path, "emulator-token", CPF_BODY).await;
        assert_eq!((reply.0, &reply.1), (*status, body), "{raw_id}");
    }

    let recorded = emulator.requests();
    assert_eq!(recorded.len(), cases.len());
    for (request, (raw_id, decoded, ..)) in recorded.iter().zip(&cases) {
        assert_eq!(
            request.raw_path,
            format!("/client/v1/process/{raw_id}/document")
        );
        assert_eq!(request.process_id.as_deref(), Some(*decoded));
        assert_eq!(request.endpoint, Some(EmulatedEndpoint::SetProcessDocument));
    }
}

#[tokio::test]
async fn what_was_sent_is_recorded() {
    let emulator = start().await;
    let url = format!(
        "{}/client/v1/process/proc-expired/document?trace=1",
        emulator.base_url()
    );

    send(
        client()
            .post(url)
            .bearer_auth("emulator-token")
            .header("X-Request-Id", "r-1")
            .json(&json!({ "duiType": "DUI_TYPE_BR_CPF", "duiValue": "12345678901" })),
    )
    .await;

    let [request] = emulator.requests().try_into().expect("one request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.raw_path, "/client/v1/process/proc-expired/document");
    assert_eq!(request.query.as_deref(), Some("trace=1"));
    assert_eq!(request.process_id.as_deref(), Some("proc-expired"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer emulator-token")
    );
    assert_eq!(request.header("X-REQUEST-ID"), Some("r-1"));
    assert!(
        request
            .headers
            .iter()
            .all(|(name, _)| name == &name.to_lowercase())
    );
    assert_eq!(
        request.json(),
        Some(json!({ "duiType": "DUI_TYPE_BR_CPF", "duiValue": "12345678901" }))
    );
}

#[tokio::test]
async fn other_paths_and_methods_answer_like_the_gateway() {
    let emulator = start().await;
    let base = emulator.base_url();

    let get = send(client().get(format!("{base}/client/v1/process/x/document"))).await;
    let unknown = send(client().post(format!("{base}/client/v1/process/x/other"))).await;

    assert_eq!(
        (get.status, get.body),
        (405, gateway_error(12, "Method Not Allowed"))
    );
    assert_eq!(
        get.headers.get("allow").map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
    assert_eq!(
        (unknown.status, unknown.body),
        (404, gateway_error(5, "Not Found"))
    );
    let endpoints: Vec<_> = emulator.requests().iter().map(|r| r.endpoint).collect();
    assert_eq!(endpoints, [None, None]);
}
