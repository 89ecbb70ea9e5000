//! Hostile and broken clients: streams that never send their message, late
//! messages, broken frames, a second message, other content types and
//! methods, cancellations. Every call gets one answer with ErrorInfo (when
//! an answer can be sent), within its deadline, and is counted; none holds
//! what an honest caller needs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::{Code, Status, codec::CompressionEncoding};
use tonic_types::StatusExt;
use unico_facade::emulator::FaultScript;

use crate::{
    helpers::{
        CPF, TestApp, authorized, capture_trace_logs, millis, scrape, set_cpf, spawn_app_with,
        value_of,
    },
    wire::{Answer, SET_DOCUMENT, Wire, frame, grpc_post, post, set_document_frame},
};

/// An app with the metrics listener and these settings.
async fn app_with(customize: impl FnOnce(&mut unico_facade::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        customize(s);
    })
    .await
}

fn stall(ms: u64) -> FaultScript {
    FaultScript {
        delay_ms: Some(ms),
        ..FaultScript::default()
    }
}

/// The code, ErrorInfo reason, domain and request id of a status.
fn assert_answer(status: &Status, code: Code, reason: &str) {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(
        (status.code(), info.reason.as_str()),
        (code, reason),
        "{status:?}"
    );
    assert_eq!(info.domain, "identity.unico-facade");
    assert_eq!(info.metadata["origin"], "facade");
    assert_eq!(
        details.request_info().map(|r| r.request_id.as_str()),
        Some("hostile-1"),
        "RequestInfo of {status:?}"
    );
}

fn series(name: &str, labels: &str) -> String {
    format!("unico_facade_{name}{{{labels}}}")
}

/// Waits until the scrape shows `value` for `series` (the ledger counts a
/// call as its future ends, a moment after the client saw it end).
async fn wait_for_series(app: &TestApp, series: &str, value: f64) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(app).await;
        if text.lines().any(|l| {
            l.strip_prefix(series)
                .is_some_and(|v| v.trim().parse() == Ok(value))
        }) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{series} never reached {value}:\n{text}"
        );
        tokio::time::sleep(millis(20)).await;
    }
}

#[tokio::test]
async fn a_slowloris_connection_cannot_starve_an_honest_caller() {
    let app = app_with(|s| {
        s.max_concurrent_calls = 4;
        s.http2.max_concurrent_streams = 24;
        s.request_message_timeout = millis(900);
    })
    .await;
    let mut slowloris = Wire::connect(app.addr).await;
    assert_eq!(slowloris.max_concurrent_streams().await, 24);
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..24 {
        // Headers only: the message never comes.
        held.push(
            slowloris
                .open(grpc_post(SET_DOCUMENT).body(()).unwrap(), false)
                .await,
        );
    }

    // Six times the concurrency limit of honest calls, one after another
    // and four at once, are all served meanwhile.
    for i in 0..8 {
        app.set_document_of(&format!("awaiting-{i}"))
            .await
            .expect("an honest call is served");
    }
    let together: Vec<_> = (0..4)
        .map(|i| {
            let mut client = app.process.clone();
            tokio::spawn(async move {
                client
                    .set_process_document(authorized(set_cpf(&format!("awaiting-t{i}"))))
                    .await
            })
        })
        .collect();
    for call in together {
        call.await.unwrap().expect("served");
    }
    assert!(
        opened.elapsed() < millis(900),
        "the honest calls were not held up"
    );
    let m = "method=\"SetProcessDocument\"";
    let text = scrape(&app).await;
    assert_eq!(value_of(&text, &series("rpc_awaiting_message", m)), 24.0);
    assert_eq!(value_of(&text, &series("rpc_in_flight", m)), 0.0);

    // Each waiting stream is answered at the message timeout.
    for (response, _stream) in held {
        let answer = Answer::of(response).await;
        assert_answer(
            answer.status(),
            Code::ResourceExhausted,
            "REQUEST_MESSAGE_TIMEOUT",
        );
        let details = answer.status().get_error_details();
        assert_eq!(details.error_info().unwrap().metadata["limitMillis"], "900");
    }
    let waited = opened.elapsed();
    assert!(
        (millis(900)..millis(1_600)).contains(&waited),
        "answered after {waited:?}"
    );
    let text = wait_for_series(
        &app,
        &series(
            "rpc_requests_total",
            &format!("{m},code=\"RESOURCE_EXHAUSTED\""),
        ),
        24.0,
    )
    .await;
    assert_eq!(value_of(&text, &series("rpc_awaiting_message", m)), 0.0);
    assert_eq!(
        value_of(
            &text,
            &series(
                "local_rejections_total",
                "reason=\"REQUEST_MESSAGE_TIMEOUT\""
            )
        ),
        24.0
    );
    assert_eq!(
        value_of(
            &text,
            &series("rpc_requests_total", &format!("{m},code=\"OK\""))
        ),
        12.0
    );
    assert_eq!(
        app.requests().len(),
        12,
        "only the honest calls went upstream"
    );
}

#[tokio::test]
async fn the_deadline_counts_from_arrival_and_every_expiry_has_details() {
    let app = app_with(|_| {}).await;
    let mut wire = Wire::connect(app.addr).await;

    // 1. The message never arrives within the caller's 300 ms.
    let started = Instant::now();
    let (response, _stream) = wire
        .open(
            grpc_post(SET_DOCUMENT)
                .header("grpc-timeout", "300m")
                .body(())
                .unwrap(),
            false,
        )
        .await;
    let answer = Answer::of(response).await;
    let elapsed = started.elapsed();
    assert_answer(
        answer.status(),
        Code::DeadlineExceeded,
        "CALL_DEADLINE_EXCEEDED",
    );
    assert_eq!(
        answer
            .status()
            .get_error_details()
            .error_info()
            .unwrap()
            .metadata["stage"],
        "receiving_request"
    );
    assert!(
        (millis(280)..millis(450)).contains(&elapsed),
        "answered after {elapsed:?}"
    );

    // 2. The message arrives 200 ms late; the upstream would take a second.
    // The upstream work still ends at the caller's deadline less the margin
    // (400 ms - 40 ms after the headers), not 400 ms after the message.
    app.script(stall(1_000));
    let started = Instant::now();
    let (response, mut stream) = wire
        .open(
            grpc_post(SET_DOCUMENT)
                .header("grpc-timeout", "400m")
                .body(())
                .unwrap(),
            false,
        )
        .await;
    tokio::time::sleep(millis(200)).await;
    stream
        .send_data(set_document_frame("awaiting-late"), true)
        .unwrap();
    let answer = Answer::of(response).await;
    let elapsed = started.elapsed();
    assert_eq!(
        answer.status().code(),
        Code::DeadlineExceeded,
        "{:?}",
        answer.status()
    );
    let info = answer
        .status()
        .get_error_details()
        .error_info()
        .cloned()
        .unwrap();
    assert_eq!(info.reason, "UPSTREAM_TIMEOUT");
    assert!(
        (millis(340)..millis(460)).contains(&elapsed),
        "answered after {elapsed:?}"
    );
    assert_eq!(app.requests().len(), 1, "the late message was still served");

    let text = wait_for_series(
        &app,
        &series(
            "rpc_requests_total",
            "method=\"SetProcessDocument\",code=\"DEADLINE_EXCEEDED\"",
        ),
        2.0,
    )
    .await;
    assert_eq!(
        value_of(
            &text,
            &series(
                "local_rejections_total",
                "reason=\"CALL_DEADLINE_EXCEEDED\""
            )
        ),
        1.0
    );
}

#[tokio::test]
async fn tonic_s_own_answers_carry_error_info_with_stable_reasons() {
    let app = app_with(|s| s.max_request_bytes = 2 * 819_200 + 64 * 1024).await;
    let mut wire = Wire::connect(app.addr).await;
    let message = set_cpf("awaiting-x");
    let encoded = prost::Message::encode_to_vec(&message);
    let gzip = |body: &[u8]| {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    };
    let truncated = {
        let mut bytes = frame(0, &encoded).to_vec();
        bytes.truncate(9);
        Bytes::from(bytes)
    };
    let mut too_large = vec![0u8];
    too_large.extend_from_slice(&4_000_000u32.to_be_bytes());
    let two = [frame(0, &encoded), frame(0, &encoded)].concat();
    let cases: Vec<(&str, http::request::Builder, Bytes, Code, &str)> = vec![
        (
            "undecodable",
            grpc_post(SET_DOCUMENT),
            frame(0, &[0xff, 0xff, 0xff]),
            Code::InvalidArgument,
            "REQUEST_UNDECODABLE",
        ),
        (
            "a length prefix longer than the body",
            grpc_post(SET_DOCUMENT),
            truncated,
            Code::InvalidArgument,
            "REQUEST_FRAME_TRUNCATED",
        ),
        (
            "no message",
            grpc_post(SET_DOCUMENT),
            Bytes::new(),
            Code::InvalidArgument,
            "REQUEST_MESSAGE_MISSING",
        ),
        (
            "compressed flag without grpc-encoding",
            grpc_post(SET_DOCUMENT),
            frame(1, &gzip(&encoded)),
            Code::InvalidArgument,
            "REQUEST_COMPRESSED_WITHOUT_ENCODING",
        ),
        (
            "a flag that is neither 0 nor 1",
            grpc_post(SET_DOCUMENT),
            frame(2, &encoded),
            Code::InvalidArgument,
            "REQUEST_FRAME_INVALID",
        ),
        (
            "gzip that is not gzip",
            grpc_post(SET_DOCUMENT).header("grpc-encoding", "gzip"),
            frame(1, b"not gzip at all"),
            Code::InvalidArgument,
            "REQUEST_DECOMPRESSION_FAILED",
        ),
        (
            "an encoding not accepted",
            grpc_post(SET_DOCUMENT).header("grpc-encoding", "zstd"),
            frame(1, &encoded),
            Code::Unimplemented,
            "REQUEST_ENCODING_UNSUPPORTED",
        ),
        (
            "a length prefix over the size limit",
            grpc_post(SET_DOCUMENT),
            Bytes::from(too_large),
            Code::ResourceExhausted,
            "REQUEST_TOO_LARGE",
        ),
        (
            "two messages in a unary call",
            grpc_post(SET_DOCUMENT),
            Bytes::from(two),
            Code::InvalidArgument,
            "REQUEST_EXTRA_MESSAGE",
        ),
        (
            "an unknown method",
            grpc_post("/unico.identity.v1.ProcessService/DeleteEverything"),
            frame(0, &encoded),
            Code::Unimplemented,
            "METHOD_NOT_FOUND",
        ),
        (
            "an unknown service",
            grpc_post("/unico.identity.v2.Nope/Nope"),
            frame(0, &encoded),
            Code::Unimplemented,
            "METHOD_NOT_FOUND",
        ),
    ];
    for (case, request, body, code, reason) in cases {
        let answer = wire.call(request.body(()).unwrap(), body).await;
        assert_eq!(answer.http_status, 200, "{case}");
        assert_answer(answer.status(), code, reason);
        assert_eq!(answer.headers["x-request-id"], "hostile-1", "{case}");
        if reason == "REQUEST_ENCODING_UNSUPPORTED" {
            let accepted = answer.headers["grpc-accept-encoding"].to_str().unwrap();
            assert!(accepted.contains("gzip"), "{accepted}");
        }
        if reason == "REQUEST_TOO_LARGE" {
            let details = answer.status().get_error_details();
            assert_eq!(
                details.error_info().unwrap().metadata["limitBytes"],
                (2 * 819_200 + 64 * 1024).to_string()
            );
        }
    }
    assert!(app.requests().is_empty(), "nothing reached the upstream");
    let text = scrape(&app).await;
    assert_eq!(
        value_of(
            &text,
            &series(
                "rpc_requests_total",
                "method=\"unknown\",code=\"UNIMPLEMENTED\""
            )
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &text,
            &series("local_rejections_total", "reason=\"REQUEST_EXTRA_MESSAGE\"")
        ),
        1.0
    );
}

#[tokio::test]
async fn what_is_not_a_grpc_call_gets_415_or_405_as_the_spec_says() {
    let app = app_with(|_| {}).await;
    let mut wire = Wire::connect(app.addr).await;

    let json = post(SET_DOCUMENT, "application/json").body(()).unwrap();
    let answer = wire.call(json, Bytes::from_static(b"{}")).await;
    assert_eq!(answer.http_status, 415);
    assert_answer(
        answer.status(),
        Code::InvalidArgument,
        "CONTENT_TYPE_UNSUPPORTED",
    );

    let get = grpc_post(SET_DOCUMENT).method("GET").body(()).unwrap();
    let answer = wire.call(get, Bytes::new()).await;
    assert_eq!(answer.http_status, 405);
    assert_eq!(answer.headers["allow"], "POST");
    assert_answer(
        answer.status(),
        Code::Unimplemented,
        "HTTP_METHOD_NOT_ALLOWED",
    );

    // gRPC-Web is not on: its content type is not gRPC here.
    let web = post(SET_DOCUMENT, "application/grpc-web+proto")
        .body(())
        .unwrap();
    let answer = wire.call(web, set_document_frame("awaiting-web")).await;
    assert_eq!(answer.http_status, 415);

    // Health is held to the same rules.
    let health = grpc_post("/grpc.health.v1.Health/Check")
        .method("GET")
        .body(())
        .unwrap();
    assert_eq!(wire.call(health, Bytes::new()).await.http_status, 405);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn gzip_requests_are_accepted() {
    let app = app_with(|_| {}).await;
    let mut client = app
        .process
        .clone()
        .send_compressed(CompressionEncoding::Gzip);

    let response = client
        .set_process_document(authorized(set_cpf("awaiting-gzip")))
        .await
        .expect("a gzip request is served");

    assert_eq!(response.into_inner().process.unwrap().id, "awaiting-gzip");
    let sent = app.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json().unwrap()["duiValue"], CPF);
}

#[tokio::test]
async fn cancelled_calls_are_logged_and_counted_in_either_stage() {
    let app = app_with(|_| {}).await;
    // While the upstream works on it.
    app.script(stall(5_000));
    let mut client = app.process.clone();
    let in_flight = tokio::spawn(async move {
        client
            .set_process_document(authorized(set_cpf("awaiting-cancelled")))
            .await
    });
    while app.requests().is_empty() {
        tokio::time::sleep(millis(5)).await;
    }
    in_flight.abort();
    let m = "method=\"SetProcessDocument\"";
    wait_for_series(
        &app,
        &series(
            "rpc_interrupted_total",
            &format!("{m},cause=\"client_cancelled\""),
        ),
        1.0,
    )
    .await;

    // While its message is awaited.
    let mut wire = Wire::connect(app.addr).await;
    let (_response, mut stream) = wire
        .open(grpc_post(SET_DOCUMENT).body(()).unwrap(), false)
        .await;
    wait_for_series(&app, &series("rpc_awaiting_message", m), 1.0).await;
    stream.send_reset(h2::Reason::CANCEL);

    let text = wait_for_series(
        &app,
        &series(
            "rpc_interrupted_total",
            &format!("{m},cause=\"client_cancelled\""),
        ),
        2.0,
    )
    .await;
    assert_eq!(
        value_of(
            &text,
            &series("rpc_requests_total", &format!("{m},code=\"CANCELLED\""))
        ),
        2.0
    );
    assert_eq!(value_of(&text, &series("rpc_awaiting_message", m)), 0.0);
    assert_eq!(value_of(&text, &series("rpc_in_flight", m)), 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn every_answer_of_the_facade_itself_has_its_call_line() {
    let (logs, _guard) = capture_trace_logs();
    let app = app_with(|s| s.request_message_timeout = millis(300)).await;
    let mut wire = Wire::connect(app.addr).await;
    let headers_only = |timeout: Option<&str>| {
        let request = grpc_post(SET_DOCUMENT);
        match timeout {
            Some(t) => request.header("grpc-timeout", t),
            None => request,
        }
        .body(())
        .unwrap()
    };

    let (late, _stream) = wire.open(headers_only(Some("100m")), false).await;
    Answer::of(late).await;
    let (slow, _stream) = wire.open(headers_only(None), false).await;
    Answer::of(slow).await;
    wire.call(headers_only(None), frame(0, &[0xff, 0xff])).await;
    let (_cancelled, mut stream) = wire.open(headers_only(None), false).await;
    tokio::time::sleep(millis(50)).await;
    stream.send_reset(h2::Reason::CANCEL);

    let reasons = [
        ("DEADLINE_EXCEEDED", "CALL_DEADLINE_EXCEEDED"),
        ("RESOURCE_EXHAUSTED", "REQUEST_MESSAGE_TIMEOUT"),
        ("INVALID_ARGUMENT", "REQUEST_UNDECODABLE"),
        ("CANCELLED", "CLIENT_CANCELLED"),
    ];
    let started = Instant::now();
    loop {
        let text = logs.text();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("call finished"))
            .collect();
        let missing: Vec<_> = reasons
            .iter()
            .filter(|(code, reason)| {
                !lines
                    .iter()
                    .any(|l| l.contains(code) && l.contains(reason) && l.contains("hostile-1"))
            })
            .collect();
        if missing.is_empty() {
            assert_eq!(
                lines.len(),
                reasons.len(),
                "one line per call:\n{}",
                lines.join("\n")
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no call line for {missing:?} in\n{}",
            lines.join("\n")
        );
        tokio::time::sleep(millis(20)).await;
    }
}
