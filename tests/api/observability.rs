//! Observability: the RPC and upstream spans reach an OTLP collector with
//! their attributes and the caller's parent; the vendor receives the same
//! trace; metrics count what happened; request ids travel back.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use tonic::{Code, Request};
use tonic_types::StatusExt;
use unico_facade::telemetry::{self, Export, OtlpSettings};

use crate::helpers::{
    authorized, closed_port, scrape, set_cpf, spawn_app, spawn_app_with, value_of,
};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// An in-process OTLP/gRPC collector keeping every span it receives.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_collector() -> (Collector, String) {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (collector, format!("http://{addr}"))
}

fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn spans_reach_the_collector_under_the_callers_trace_and_the_vendor_gets_it_too() {
    let (collector, endpoint) = start_collector().await;
    let provider =
        telemetry::tracer_provider(&Export::Otlp(OtlpSettings::endpoint(endpoint))).unwrap();
    let tracer = telemetry::Tracer::new(&provider);
    let app = spawn_app_with(|s| s.tracer = tracer).await;

    let mut request = authorized(set_cpf("awaiting-traced"));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    app.process
        .clone()
        .set_process_document(request)
        .await
        .unwrap();
    let mut failing = authorized(set_cpf("proc-expired"));
    failing.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    app.process
        .clone()
        .set_process_document(failing)
        .await
        .unwrap_err();
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();

    let flushed = provider.clone();
    tokio::task::spawn_blocking(move || flushed.force_flush())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.0.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("unico.identity.v1.") || n.starts_with("POST /")),
        "only the facade's own spans are exported, none of hyper, h2, tower or reqwest: {names:?}"
    );
    for span in &spans {
        for key in attributes(span).keys() {
            assert!(
                ["rpc.", "http.", "server.", "error.", "unico."]
                    .iter()
                    .any(|prefix| key.starts_with(prefix)),
                "{}: {key} is not one of the facade's attributes",
                span.name
            );
        }
    }

    let rpc: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "unico.identity.v1.ProcessService/SetProcessDocument")
        .collect();
    assert_eq!(
        rpc.len(),
        2,
        "one server span per call: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let ok = rpc
        .iter()
        .find(|s| attributes(s)["rpc.grpc.status_code"] == "0")
        .expect("the OK call");
    assert_eq!(ok.kind, SpanKind::Server as i32);
    assert_eq!(hex(&ok.trace_id), TRACE_ID, "under the caller's trace");
    assert_eq!(
        hex(&ok.parent_span_id),
        PARENT_SPAN_ID,
        "child of the caller's span"
    );
    let attrs = attributes(ok);
    assert_eq!(attrs["rpc.system"], "grpc");
    assert_eq!(attrs["rpc.service"], "unico.identity.v1.ProcessService");
    assert_eq!(attrs["rpc.method"], "SetProcessDocument");

    let failed = rpc
        .iter()
        .find(|s| attributes(s)["rpc.grpc.status_code"] == "9")
        .expect("the FAILED_PRECONDITION call");
    assert_eq!(attributes(failed)["error.type"], "PROCESS_EXPIRED");

    let upstream = spans
        .iter()
        .find(|s| {
            s.name == "POST /client/v1/process/{processId}/document"
                && s.parent_span_id == ok.span_id
        })
        .expect("a client span under the RPC span");
    assert_eq!(upstream.kind, SpanKind::Client as i32);
    let attrs = attributes(upstream);
    assert_eq!(attrs["http.request.method"], "POST");
    assert_eq!(
        attrs["http.route"],
        "/client/v1/process/{processId}/document"
    );
    assert_eq!(attrs["http.response.status_code"], "200");
    let failed_upstream = spans
        .iter()
        .find(|s| s.parent_span_id == failed.span_id)
        .expect("the failed call's upstream span");
    assert_eq!(attributes(failed_upstream)["unico.vendor_code"], "9");
    assert!(
        spans
            .iter()
            .all(|s| !s.name.contains("grpc.health") && !s.name.contains("Reflection")),
        "health and reflection are not traced"
    );
    assert!(
        spans.iter().all(|s| !attributes(s)
            .values()
            .any(|v| v.contains("awaiting-traced"))),
        "no raw URL or id in span attributes"
    );

    let sent = app.requests();
    let traceparent = sent[0]
        .header("traceparent")
        .expect("traceparent sent upstream");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent}"
    );
    assert!(
        traceparent.contains(&hex(&upstream.span_id)),
        "the vendor's parent is the client span"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_collector_never_slows_or_fails_a_call() {
    let dead = closed_port().await;
    let provider = telemetry::tracer_provider(&Export::Otlp(OtlpSettings::endpoint(format!(
        "http://{dead}"
    ))))
    .unwrap();
    let tracer = telemetry::Tracer::new(&provider);
    let app = spawn_app_with(|s| s.tracer = tracer).await;

    let started = Instant::now();
    for i in 0..20 {
        app.set_document_of(&format!("awaiting-{i}")).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn metrics_count_calls_upstream_answers_and_local_rejections() {
    let app = spawn_app_with(|s| s.admin_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    app.set_document_of("awaiting-1").await.unwrap();
    app.set_document_of("awaiting-2").await.unwrap();
    app.set_document_of("no-such-process").await.unwrap_err();
    app.set_document_of("..").await.unwrap_err();
    app.set_document_of("proc-rate-limited").await.unwrap_err();

    let text = scrape(&app).await;
    // Kept for CI, which validates the exposition with `promtool check metrics`.
    std::fs::write(
        concat!(env!("CARGO_TARGET_TMPDIR"), "/metrics-sample.prom"),
        &text,
    )
    .unwrap();

    let m = "SetProcessDocument";
    assert_eq!(
        value_of(
            &text,
            &format!("unico_facade_rpc_requests_total{{method=\"{m}\",code=\"OK\"}}")
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!("unico_facade_rpc_requests_total{{method=\"{m}\",code=\"NOT_FOUND\"}}")
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!("unico_facade_rpc_requests_total{{method=\"{m}\",code=\"INVALID_ARGUMENT\"}}")
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!("unico_facade_rpc_duration_seconds_count{{method=\"{m}\",code=\"OK\"}}")
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!("unico_facade_rpc_in_flight{{method=\"{m}\"}}")
        ),
        0.0
    );
    let route = "POST /client/v1/process/{processId}/document";
    assert_eq!(
        value_of(
            &text,
            &format!(
                "unico_facade_upstream_requests_total{{endpoint=\"{route}\",http_status=\"200\",vendor_code=\"none\"}}"
            )
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!(
                "unico_facade_upstream_requests_total{{endpoint=\"{route}\",http_status=\"404\",vendor_code=\"5\"}}"
            )
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &text,
            &format!(
                "unico_facade_upstream_requests_total{{endpoint=\"{route}\",http_status=\"429\",vendor_code=\"none\"}}"
            )
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &text,
            "unico_facade_local_rejections_total{reason=\"PROCESS_ID_INVALID\"}"
        ),
        1.0
    );
    assert!(
        !text.contains("awaiting-1") && !text.contains("no-such-process"),
        "no ids in labels"
    );
}

#[tokio::test]
async fn the_request_id_travels_back_in_metadata_and_request_info() {
    let app = spawn_app().await;
    let mut request = authorized(set_cpf("awaiting-1"));
    request
        .metadata_mut()
        .insert("x-request-id", "req-abc-123".parse().unwrap());
    let response = app
        .process
        .clone()
        .set_process_document(request)
        .await
        .unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "req-abc-123"
    );

    let status = app.set_document_of("proc-expired").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let generated = status
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID when the caller sent none");
    let info = status
        .get_error_details()
        .request_info()
        .cloned()
        .expect("RequestInfo");
    assert_eq!(info.request_id, generated);
}

/// With export off (the tracer off, the default without an OTLP endpoint)
/// no span is recorded, and the facade is a transparent hop: the vendor
/// receives the caller's `traceparent` and `baggage` exactly as sent.
#[tokio::test(flavor = "current_thread")]
async fn with_export_off_the_callers_trace_context_reaches_the_vendor_unchanged() {
    let app = spawn_app().await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let mut request = authorized(set_cpf("awaiting-untraced"));
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    request
        .metadata_mut()
        .insert("baggage", "tenant=acme".parse().unwrap());
    app.process
        .clone()
        .set_process_document(request)
        .await
        .unwrap();
    let untraced = app
        .process
        .clone()
        .set_process_document(authorized(set_cpf("awaiting-bare")))
        .await;
    untraced.unwrap();

    let sent = app.requests();
    assert_eq!(sent[0].header("traceparent"), Some(traceparent.as_str()));
    assert_eq!(sent[0].header("baggage"), Some("tenant=acme"));
    assert_eq!(
        sent[1].header("traceparent"),
        None,
        "a caller without a trace gets none invented"
    );
}
