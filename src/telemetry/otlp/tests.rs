//! The exporter against a scripted collector on loopback: what it sends
//! (the encoded batch, the configured headers, gzip) and what it does with
//! each answer (retried, given up, reported).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkError,
    trace::{SpanData, SpanExporter as _},
};
use tonic::{Code, Request, Response, Status, codec::CompressionEncoding, metadata::MetadataMap};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::{
    OtlpExporter, OtlpSettings,
    wire::tests::{reference, resource, spans},
};

/// Answers each export with the next scripted answer (OK once they run
/// out) and keeps what it received.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<VecDeque<Result<ExportTraceServiceResponse, Status>>>>,
    received: Arc<Mutex<Vec<(MetadataMap, ExportTraceServiceRequest)>>>,
}

#[tonic::async_trait]
impl TraceService for Scripted {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, body) = request.into_parts();
        self.received.lock().unwrap().push((metadata, body));
        let answer = self.answers.lock().unwrap().pop_front();
        answer
            .unwrap_or_else(|| Ok(ExportTraceServiceResponse::default()))
            .map(Response::new)
    }
}

impl Scripted {
    async fn start(answers: Vec<Result<ExportTraceServiceResponse, Status>>) -> (Self, String) {
        let collector = Scripted {
            answers: Arc::new(Mutex::new(answers.into())),
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service =
            TraceServiceServer::new(collector.clone()).accept_compressed(CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (collector, format!("http://{addr}"))
    }

    fn received(&self) -> Vec<(MetadataMap, ExportTraceServiceRequest)> {
        self.received.lock().unwrap().clone()
    }
}

/// The resource every exporter here is given (one instance: a resource's
/// attributes are a hash map, so two builds may list them in two orders).
fn the_resource() -> &'static Resource {
    static RESOURCE: OnceLock<Resource> = OnceLock::new();
    RESOURCE.get_or_init(resource)
}

fn exporter(settings: OtlpSettings) -> OtlpExporter {
    let mut exporter = OtlpExporter::new(settings).unwrap();
    opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, the_resource());
    exporter
}

fn expected(batch: &[SpanData]) -> ExportTraceServiceRequest {
    reference(the_resource(), batch.to_vec())
}

#[tokio::test]
async fn a_batch_arrives_once_as_encoded_with_the_configured_headers_and_gzip() {
    let (collector, endpoint) = Scripted::start(vec![]).await;
    let mut settings = OtlpSettings::endpoint(endpoint);
    settings
        .headers
        .insert("x-collector-key", "secret".parse().unwrap());
    settings.compression = Some(CompressionEncoding::Gzip);
    let batch = spans();

    exporter(settings).export(batch.clone()).await.unwrap();

    let received = collector.received();
    assert_eq!(received.len(), 1);
    let (metadata, request) = &received[0];
    assert_eq!(metadata.get("x-collector-key").unwrap(), "secret");
    assert_eq!(metadata.get("grpc-encoding").unwrap(), "gzip");
    assert_eq!(*request, expected(&batch));
}

#[tokio::test]
async fn unavailable_is_retried_and_the_batch_then_delivered() {
    let (collector, endpoint) = Scripted::start(vec![
        Err(Status::unavailable("restarting")),
        Err(Status::unavailable("restarting")),
    ])
    .await;
    let batch = spans();

    exporter(OtlpSettings::endpoint(endpoint))
        .export(batch.clone())
        .await
        .unwrap();

    let received = collector.received();
    assert_eq!(received.len(), 3, "two refusals, then the delivery");
    for (_, r) in &received {
        assert_eq!(*r, expected(&batch));
    }
}

#[tokio::test]
async fn resource_exhausted_is_retried_only_when_the_collector_says_when() {
    let told = Status::with_error_details(
        Code::ResourceExhausted,
        "slow down",
        ErrorDetails::with_retry_info(Some(Duration::from_millis(20))),
    );
    let (collector, endpoint) = Scripted::start(vec![Err(told)]).await;
    exporter(OtlpSettings::endpoint(endpoint))
        .export(spans())
        .await
        .unwrap();
    assert_eq!(collector.received().len(), 2);

    let (collector, endpoint) =
        Scripted::start(vec![Err(Status::resource_exhausted("full"))]).await;
    let outcome = exporter(OtlpSettings::endpoint(endpoint))
        .export(spans())
        .await;
    assert!(matches!(outcome, Err(OTelSdkError::InternalFailure(_))));
    assert_eq!(collector.received().len(), 1);
}

#[tokio::test]
async fn a_refusal_that_is_not_retryable_is_one_attempt_and_the_next_batch_goes_through() {
    let (collector, endpoint) =
        Scripted::start(vec![Err(Status::invalid_argument("bad span"))]).await;
    let exporter = exporter(OtlpSettings::endpoint(endpoint));

    let outcome = exporter.export(spans()).await;
    assert!(matches!(outcome, Err(OTelSdkError::InternalFailure(_))));
    assert_eq!(collector.received().len(), 1);

    exporter.export(spans()).await.unwrap();
    assert_eq!(collector.received().len(), 2);
}

#[tokio::test]
async fn a_partial_success_is_reported_not_retried() {
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "one span too large".to_owned(),
        }),
    };
    let (collector, endpoint) = Scripted::start(vec![Ok(partial)]).await;
    exporter(OtlpSettings::endpoint(endpoint))
        .export(spans())
        .await
        .unwrap();
    assert_eq!(collector.received().len(), 1);
}

#[tokio::test]
async fn retries_stop_at_the_export_timeout() {
    let refusals = (0..100).map(|_| Err(Status::unavailable("down"))).collect();
    let (collector, endpoint) = Scripted::start(refusals).await;
    let mut settings = OtlpSettings::endpoint(endpoint);
    settings.timeout = Duration::from_millis(400);

    let started = Instant::now();
    let outcome = exporter(settings).export(spans()).await;

    assert!(matches!(outcome, Err(OTelSdkError::InternalFailure(_))));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        collector.received().len() >= 2,
        "retried within the timeout"
    );
}

#[tokio::test]
async fn after_shutdown_nothing_is_sent() {
    let (collector, endpoint) = Scripted::start(vec![]).await;
    let exporter = exporter(OtlpSettings::endpoint(endpoint));
    opentelemetry_sdk::trace::SpanExporter::shutdown_with_timeout(
        &exporter,
        Duration::from_secs(1),
    )
    .unwrap();
    let outcome = exporter.export(spans()).await;
    assert!(matches!(outcome, Err(OTelSdkError::AlreadyShutdown)));
    assert!(collector.received().is_empty());
}
