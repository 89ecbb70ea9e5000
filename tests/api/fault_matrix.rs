//! The fault matrix: every scripted upstream fault against both RPCs. Each
//! call ends within its deadline with the expected code and ErrorInfo
//! reason, never OK for a malformed success, never a code of the caller's
//! fault for the vendor's; the vendor's text never reaches ErrorInfo.

use std::time::{Duration, Instant};

use tonic::{Code, Request};
use tonic_types::StatusExt;
use unico_facade::emulator::{EmulatedEndpoint, FaultScript};

use crate::helpers::{TestApp, authorized, authorized_with_key, set_cpf, spawn_app, valid_capture};

/// One fault and what each RPC answers to it.
struct Fault {
    name: &'static str,
    script: FaultScript,
    set_document: (Code, &'static str),
    create_document: (Code, &'static str),
}

fn answer(status: u16, body: &str) -> FaultScript {
    FaultScript {
        status: Some(status),
        body: Some(body.to_owned()),
        ..FaultScript::default()
    }
}

fn with_header(mut script: FaultScript, name: &str, value: &str) -> FaultScript {
    script.headers.push((name.to_owned(), value.to_owned()));
    script
}

fn both(name: &'static str, script: FaultScript, code: Code, reason: &'static str) -> Fault {
    Fault {
        name,
        script,
        set_document: (code, reason),
        create_document: (code, reason),
    }
}

const UNPARSEABLE: (Code, &str) = (Code::Internal, "UPSTREAM_RESPONSE_UNPARSEABLE");

fn faults() -> Vec<Fault> {
    use Code::*;
    vec![
        both(
            "500 with an HTML page",
            answer(500, "<html><h1>500</h1></html>"),
            Internal,
            "UPSTREAM_INTERNAL_ERROR",
        ),
        both(
            "502, no body",
            answer(502, ""),
            Unavailable,
            "UPSTREAM_UNAVAILABLE",
        ),
        both(
            "503 with Retry-After",
            with_header(answer(503, ""), "retry-after", "7"),
            Unavailable,
            "UPSTREAM_UNAVAILABLE",
        ),
        both(
            "504 as JSON",
            answer(504, r#"{"message":"gateway timeout"}"#),
            Unavailable,
            "UPSTREAM_UNAVAILABLE",
        ),
        both(
            "429, no body",
            answer(429, ""),
            ResourceExhausted,
            "UPSTREAM_RATE_LIMITED",
        ),
        both(
            "429 with an HTTP-date",
            with_header(
                answer(429, ""),
                "retry-after",
                "Wed, 21 Oct 2065 07:28:00 GMT",
            ),
            ResourceExhausted,
            "UPSTREAM_RATE_LIMITED",
        ),
        both(
            "418",
            answer(418, "I'm a teapot"),
            Unknown,
            "UPSTREAM_UNEXPECTED_ANSWER",
        ),
        both(
            "a 3xx redirect (not followed)",
            with_header(answer(302, ""), "location", "https://elsewhere.example/"),
            Unknown,
            "UPSTREAM_UNEXPECTED_ANSWER",
        ),
        both(
            "400 whose text code echoes the caller",
            answer(400, r#"{"code":"Luke Skywalker 52998224725"}"#),
            InvalidArgument,
            "UPSTREAM_INVALID_ARGUMENT",
        ),
        both(
            "400 with a huge message",
            answer(
                400,
                &format!(r#"{{"code":3,"message":"{}"}}"#, "m".repeat(60_000)),
            ),
            InvalidArgument,
            "UPSTREAM_INVALID_ARGUMENT",
        ),
        both("200 {}", answer(200, "{}"), UNPARSEABLE.0, UNPARSEABLE.1),
        both("200 []", answer(200, "[]"), UNPARSEABLE.0, UNPARSEABLE.1),
        both(
            "200 null",
            answer(200, "null"),
            UNPARSEABLE.0,
            UNPARSEABLE.1,
        ),
        both("200 empty", answer(200, ""), UNPARSEABLE.0, UNPARSEABLE.1),
        both(
            "200 HTML",
            answer(200, "<html>maintenance</html>"),
            UNPARSEABLE.0,
            UNPARSEABLE.1,
        ),
        both(
            "200 truncated JSON",
            answer(200, r#"{"process":{"id":"p-1""#),
            UNPARSEABLE.0,
            UNPARSEABLE.1,
        ),
        both(
            "200 nested past serde's limit",
            answer(200, &format!("{}{}", "[".repeat(200), "]".repeat(200))),
            UNPARSEABLE.0,
            UNPARSEABLE.1,
        ),
        Fault {
            name: "200 with another endpoint's shape",
            script: answer(200, r#"{"id":"p-1","status":3}"#),
            set_document: UNPARSEABLE,
            create_document: (Ok, ""),
        },
        Fault {
            name: "200, an array of the right objects",
            script: answer(200, r#"[{"id":"p-1"},{"process":{"id":"p-1"}}]"#),
            set_document: UNPARSEABLE,
            create_document: UNPARSEABLE,
        },
        Fault {
            name: "200 with an empty id",
            script: answer(200, r#"{"id":"","process":{"id":""}}"#),
            set_document: UNPARSEABLE,
            create_document: UNPARSEABLE,
        },
        Fault {
            name: "200 with a document without id",
            script: answer(
                200,
                r#"{"id":"p-1","document":{"type":"unico.moja.dictionary.br.cnh.v2.Cnh"},"process":[]}"#,
            ),
            set_document: UNPARSEABLE,
            create_document: UNPARSEABLE,
        },
        Fault {
            name: "404 plain text",
            script: answer(404, "Not Found"),
            set_document: (NotFound, "PROCESS_NOT_FOUND"),
            create_document: (NotFound, "UPSTREAM_NOT_FOUND"),
        },
        both(
            "the connection dropped",
            FaultScript {
                drop_connection: true,
                ..FaultScript::default()
            },
            Unavailable,
            "UPSTREAM_CONNECTION_LOST",
        ),
        both(
            "no answer within the deadline",
            FaultScript {
                delay_ms: Some(5_000),
                ..FaultScript::default()
            },
            DeadlineExceeded,
            "UPSTREAM_TIMEOUT",
        ),
    ]
}

/// The code, the ErrorInfo reason and `upstreamCode` of one call.
type Seen = (Code, String, Option<String>);

async fn set_document(app: &TestApp) -> Seen {
    let mut request: Request<_> = authorized(set_cpf("awaiting-matrix"));
    request.set_timeout(Duration::from_millis(800));
    seen(
        app.process
            .clone()
            .set_process_document(request)
            .await
            .map(|_| ()),
    )
}

async fn create_document(app: &TestApp) -> Seen {
    let mut request = authorized_with_key(valid_capture());
    request.set_timeout(Duration::from_millis(800));
    seen(
        app.document
            .clone()
            .create_document_process(request)
            .await
            .map(|_| ()),
    )
}

fn seen(outcome: Result<(), tonic::Status>) -> Seen {
    match outcome {
        Ok(()) => (Code::Ok, String::new(), None),
        Err(status) => {
            let info = status
                .get_error_details()
                .error_info()
                .cloned()
                .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
            assert!(
                !status.message().contains("Luke") && !status.message().contains("mmmm"),
                "the vendor's text in {status:?}"
            );
            (
                status.code(),
                info.reason,
                info.metadata.get("upstreamCode").cloned(),
            )
        }
    }
}

#[tokio::test]
async fn every_upstream_fault_gets_its_answer_on_both_rpcs_within_the_deadline() {
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for fault in faults() {
        for (rpc, endpoint, expected) in [
            (
                "SetProcessDocument",
                EmulatedEndpoint::SetProcessDocument,
                fault.set_document,
            ),
            (
                "CreateDocumentProcess",
                EmulatedEndpoint::CreateDocumentProcess,
                fault.create_document,
            ),
        ] {
            app.script(FaultScript {
                endpoint: Some(endpoint),
                ..fault.script.clone()
            });
            let started = Instant::now();
            let (code, reason, upstream_code) = match endpoint {
                EmulatedEndpoint::SetProcessDocument => set_document(&app).await,
                _ => create_document(&app).await,
            };
            let elapsed = started.elapsed();
            if (code, reason.as_str()) != expected {
                failures.push(format!(
                    "{rpc} / {}: got {code:?} {reason}, expected {expected:?}",
                    fault.name
                ));
            }
            if elapsed > Duration::from_millis(800 + 200) {
                failures.push(format!(
                    "{rpc} / {}: answered after {elapsed:?}",
                    fault.name
                ));
            }
            if fault.name.contains("echoes")
                && upstream_code.as_deref() != Some("unrecognized-text")
            {
                failures.push(format!(
                    "{rpc} / {}: upstreamCode {upstream_code:?}",
                    fault.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A 200 of the page's shape whose document content is `content`.
fn success_with_content(content: &str) -> FaultScript {
    FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        ..answer(
            200,
            &format!(
                r#"{{"id":"p-deep","status":3,"document":{{"id":"d-1","type":"unico.moja.dictionary.br.cnh.v2.Cnh","content":{content}}}}}"#
            ),
        )
    }
}

#[tokio::test]
async fn content_too_deep_or_too_large_for_clients_is_cut_and_said_so() {
    let app = spawn_app().await;
    let create = || async {
        app.document
            .clone()
            .create_document_process(authorized_with_key(valid_capture()))
            .await
    };

    // 40 nested objects: undecodable by a prost client (recursion limit)
    // before the bound. Now the answer decodes, the process id intact.
    let deep = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
    app.script(success_with_content(&deep));
    let response = create().await.expect("a success the client can decode");
    assert_eq!(
        response
            .metadata()
            .get("x-unico-content-truncated")
            .unwrap(),
        "depth"
    );
    let answer = response.into_inner();
    assert_eq!(answer.id, "p-deep");
    assert_eq!(answer.document.unwrap().id, "d-1");

    // 2 MiB of OCR text: left out, the rest of the answer kept.
    let large = format!(r#"{{"blob":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    app.script(success_with_content(&large));
    let response = create().await.expect("a success");
    assert_eq!(
        response
            .metadata()
            .get("x-unico-content-truncated")
            .unwrap(),
        "size"
    );
    let document = response.into_inner().document.unwrap();
    assert!(document.content.unwrap().fields.is_empty());

    // Ordinary content is not marked.
    app.script(success_with_content(
        r#"{"numero":"12345678","filiacao":["A","B"]}"#,
    ));
    let response = create().await.expect("a success");
    assert!(
        response
            .metadata()
            .get("x-unico-content-truncated")
            .is_none()
    );
}
