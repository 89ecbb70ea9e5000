//! The Rust side of `benches/run`, the benchmark of the release binary as
//! deployed. The script drives the load with h2load and reads the facade's
//! own counters; this helper does what a shell cannot:
//!
//! - `ports N`: prints N free loopback ports (the script's listeners);
//! - `frames DIR`: writes the request bodies: each gRPC request as one
//!   length-prefixed frame (what h2load sends), and the JSON the facade
//!   sends upstream for it (what the direct REST runs POST), from the
//!   facade's own validation and serialisation, so both carry the same payload;
//! - `collector ADDR`: an OTLP/gRPC trace collector that counts the spans it
//!   receives, without decoding them (one `spans N` line per export, N the
//!   total so far);
//! - `stub ADDR HOLD_MS`: an upstream that reads each `POST /processes/v1`
//!   body to its end and holds the answer `HOLD_MS`, so that concurrent calls
//!   are all in flight at once (`held N` lines: the most held together);
//! - `startup RUNS ADDR BINARY ARGS...`: runs the binary RUNS times and
//!   prints the time from exec to health SERVING on ADDR.
//!
//! `cargo bench --bench helper` alone runs nothing useful; `benches/run`
//! builds it and calls it with a subcommand.

// Printing figures and lines for the script is the point.
#![allow(clippy::print_stdout)]

use std::{
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, http::StatusCode, response::IntoResponse, routing::post};
use bytes::Bytes;
use futures_util::StreamExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use unico_facade::{
    domain::ImageLimits,
    health_check,
    pb::identity_v1::{
        self as pb, DuiType, Purpose, SetProcessDocumentRequest,
        document_submission::Capture as PbCapture,
    },
    upstream::encode_body,
    validation,
};

/// The largest image the facade takes by default (800 KiB).
const MAX_IMAGE: usize = 819_200;
/// The images of an ordinary capture in the main table.
const SMALL_IMAGE: usize = 64 * 1024;
const CPF: &str = "52998224725";

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; the script calls the binary directly.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["ports", count] => ports(count),
        ["frames", dir] => frames(Path::new(dir)),
        ["collector", addr] => runtime().block_on(collector(addr)),
        ["stub", addr, hold_ms] => runtime().block_on(stub(addr, hold_ms)),
        ["startup", runs, addr, binary, ..] => {
            runtime().block_on(startup(runs, addr, binary, &args[4..]))
        }
        _ => Err(
            "usage: helper ports N | frames DIR | collector ADDR | stub ADDR HOLD_MS | \
                  startup RUNS ADDR BINARY ARGS..."
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("helper: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ports(count: &str) -> Result<(), String> {
    let count: usize = count.parse().map_err(|e| format!("{count}: {e}"))?;
    // All bound at once, so that no two are the same; released on return.
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    let ports: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port().to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    println!("{}", ports.join(" "));
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A PNG header (the dimensions a header-only check reads) padded with
/// pseudo-random bytes to `len`, like a compressed photograph.
fn png(width: u32, height: u32, len: usize, seed: u64) -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let mut state = seed | 1;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push(state.to_le_bytes()[0]);
    }
    Bytes::from(bytes)
}

fn capture_request(image_len: usize) -> pb::CreateDocumentProcessRequest {
    pb::CreateDocumentProcessRequest {
        subject: Some(pb::Subject {
            dui_type: DuiType::BrCpf as i32,
            code: CPF.into(),
            name: "Luke Skywalker".into(),
            ..Default::default()
        }),
        document: Some(pb::DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: "auth-face-match".into(),
            capture: Some(PbCapture::NewCapture(pb::NewCapture {
                files: vec![
                    pb::DocumentFile {
                        data: png(1920, 1080, image_len, 11),
                    },
                    pb::DocumentFile {
                        data: png(1920, 1080, image_len, 12),
                    },
                ],
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

/// One uncompressed gRPC message frame.
fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{name}: {} bytes", bytes.len());
    Ok(())
}

fn frames(dir: &Path) -> Result<(), String> {
    let set = SetProcessDocumentRequest {
        process_id: "abc-123".into(),
        dui_type: DuiType::BrCpf as i32,
        dui_value: CPF.into(),
    };
    write(dir, "set.bin", &grpc_frame(&set))?;
    // The body the facade sends for it (`upstream::set_process_document`).
    write(
        dir,
        "set.json",
        br#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"52998224725"}"#,
    )?;
    for (name, image_len) in [("create", SMALL_IMAGE), ("create-max", MAX_IMAGE)] {
        let request = capture_request(image_len);
        let call = validation::create_document_process(&request, &ImageLimits::default())
            .map_err(|e| format!("{name}: the facade refuses the request: {e:?}"))?;
        write(dir, &format!("{name}.bin"), &grpc_frame(&request))?;
        let json = encode_body(&call).map_err(|e| e.to_string())?;
        write(dir, &format!("{name}.json"), &json)?;
    }
    Ok(())
}

/// The OTLP/gRPC method the collector stub answers.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// `ExportTraceServiceRequest` down to its spans, each left as its bytes:
/// the stub counts spans (and checks the framing) without decoding them, so
/// that its own share of the two cores stays small. A real collector runs
/// elsewhere; its cost is not the facade's.
#[derive(Clone, PartialEq, prost::Message)]
struct Batch {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ScopeSpans {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    spans: Vec<Bytes>,
}

/// Counts spans; answers every export with success.
#[derive(Clone, Default)]
struct SpanCounter(Arc<AtomicUsize>);

impl tonic::server::NamedService for SpanCounter {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl tonic::server::UnaryService<Batch> for SpanCounter {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Batch>) -> Self::Future {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let total = self.0.fetch_add(spans, Ordering::Relaxed) + spans;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "spans {total}");
        let _ = out.flush();
        std::future::ready(Ok(tonic::Response::new(
            ExportTraceServiceResponse::default(),
        )))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for SpanCounter {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let counter = self.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(tonic::Status::unimplemented("only Export").into_http());
            }
            let codec = tonic_prost::ProstCodec::<ExportTraceServiceResponse, Batch>::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(counter, request)
                .await)
        })
    }
}

fn parse_addr(addr: &str) -> Result<SocketAddr, String> {
    addr.parse().map_err(|e| format!("{addr}: {e}"))
}

async fn collector(addr: &str) -> Result<(), String> {
    let addr = parse_addr(addr)?;
    tonic::transport::Server::builder()
        .add_service(SpanCounter::default())
        .serve(addr)
        .await
        .map_err(|e| format!("collector on {addr}: {e}"))
}

/// The vendor's answer to a new capture (the page's example, shortened).
const CREATED: &str = r#"{"id":"80371b2a-8c6d-4c5e-9f3a-2b1d4e5f6a7b","status":3,"document":{"id":"doc-abc-123","type":"unico.moja.dictionary.br.cnh.v2.Cnh","cpfMatch":true,"faceMatch":true,"content":{"numero":"12345678"},"fileUrls":["https://storage.example/front.jpg","https://storage.example/back.jpg"]}}"#;

async fn stub(addr: &str, hold_ms: &str) -> Result<(), String> {
    let addr = parse_addr(addr)?;
    let hold = Duration::from_millis(hold_ms.parse().map_err(|e| format!("{hold_ms}: {e}"))?);
    let held = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/processes/v1",
        post(move |body: Body| {
            let (held, most) = (held.clone(), most.clone());
            async move {
                // Read the whole body, as the vendor does before answering.
                let mut stream = body.into_data_stream();
                let mut length = 0;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => length += chunk.len(),
                        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
                    }
                }
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                if now > most.fetch_max(now, Ordering::SeqCst) {
                    println!("held {now}");
                }
                tokio::time::sleep(hold).await;
                held.fetch_sub(1, Ordering::SeqCst);
                if length == 0 {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                ([("content-type", "application/json")], CREATED).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("stub on {addr}: {e}"))?;
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("stub on {addr}: {e}"))
}

/// Runs the binary `runs` times; each time, the time from spawning it to
/// its first SERVING answer on `addr` (polled every millisecond).
async fn startup(runs: &str, addr: &str, binary: &str, args: &[String]) -> Result<(), String> {
    let runs: usize = runs.parse().map_err(|e| format!("{runs}: {e}"))?;
    let target: health_check::Target = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {binary}: {e}"))?;
        let serving = loop {
            if health_check::check(&target, "", Duration::from_millis(200))
                .await
                .is_ok()
            {
                break Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(10) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        let serving = serving.ok_or_else(|| format!("{binary} not SERVING within 10 s"))?;
        times.push(serving);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "startup_ms median {:.1} min {:.1} max {:.1} runs {runs}",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1])
    );
    Ok(())
}
