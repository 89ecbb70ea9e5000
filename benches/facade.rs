//! Figures for the two paths that matter: building the upstream body of a
//! maximum-size capture (two 800 KiB images, base64-encoded into one buffer
//! sized once), and end-to-end RPCs through the real server against the
//! embedded emulator on loopback (throughput and latency percentiles).
//!
//! `cargo bench --bench facade` prints the figures; it asserts nothing about
//! speed (shared machines make timings noisy), only that the body buffer is
//! never regrown, which is the memory property the code promises.

// Printing the figures is the point of a bench.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::{Request, transport::Channel};
use unico_facade::{
    app::App,
    config::Settings,
    domain::{DuiType, Image, ImageLimits, Personal, Purpose},
    emulator::{Emulator, EmulatorConfig},
    pb::identity_v1::{
        DuiType as PbDuiType, SetProcessDocumentRequest,
        process_service_client::ProcessServiceClient,
    },
    upstream::{Capture, CreateDocumentProcess, Subject, UpstreamHosts, encode_body},
};

const IMAGE_BYTES: usize = 800 * 1024;

/// A 640 × 480 PNG header padded to `len` bytes: all a header-only check reads.
fn png(len: usize) -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&640u32.to_be_bytes());
    bytes.extend_from_slice(&480u32.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(len, 0xA5);
    Bytes::from(bytes)
}

fn capture() -> CreateDocumentProcess {
    let image = || Image::parse(png(IMAGE_BYTES), &ImageLimits::default()).expect("a valid image");
    CreateDocumentProcess {
        subject: Subject {
            dui_type: DuiType::BrCpf,
            code: Personal::new("52998224725"),
            name: Some(Personal::new("Luke Skywalker")),
            gender: None,
            birth_date: None,
            email: None,
            phone: None,
        },
        purpose: Purpose::Onboarding,
        auth_process_id: "auth-face-match".into(),
        capture: Capture::NewImages(vec![image(), image()]),
        subsidiary_id: None,
    }
}

fn bench_body() {
    let call = capture();
    let rounds = 200;
    let started = Instant::now();
    let mut regrown = 0;
    let mut len = 0;
    for _ in 0..rounds {
        let body = encode_body(&call).expect("encodes");
        len = body.len();
        // The estimate is an upper bound: a buffer that needed more would
        // have been reallocated (and the images copied again).
        if body.capacity() < body.len() || body.capacity() - body.len() > 4096 {
            regrown += 1;
        }
    }
    let elapsed = started.elapsed();
    let input_mb = (2 * IMAGE_BYTES * rounds) as f64 / 1e6;
    println!(
        "encode_body: {rounds} bodies of {:.2} MB (2 x {IMAGE_BYTES} B images) in {elapsed:.2?}: {:.0} MB/s of image input, {:.2} ms per body",
        len as f64 / 1e6,
        input_mb / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / rounds as f64
    );
    assert_eq!(regrown, 0, "the body buffer was regrown");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn bench_rpc() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let hosts = UpstreamHosts::single(&emulator.base_url()).unwrap();
    let mut settings = Settings::new("127.0.0.1:0".parse().unwrap(), hosts);
    settings.max_concurrent_calls = 1024;
    let app = App::build(settings).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = ProcessServiceClient::new(channel);

    for concurrency in [1usize, 16, 64] {
        let per_task = 2000 / concurrency;
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|t| {
                let mut client = client.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_task);
                    for i in 0..per_task {
                        let mut request = Request::new(SetProcessDocumentRequest {
                            process_id: format!("awaiting-{concurrency}-{t}-{i}"),
                            dui_type: PbDuiType::BrCpf as i32,
                            dui_value: "52998224725".into(),
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", "Bearer emulator-token".parse().unwrap());
                        let sent = Instant::now();
                        client
                            .set_process_document(request)
                            .await
                            .expect("call succeeds");
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "SetProcessDocument, {concurrency:>2} concurrent: {} calls in {elapsed:.2?} = {:.0} calls/s; p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
        );
    }
}

fn main() {
    bench_body();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(bench_rpc());
}
