//! A soak of the release binary as deployed: `unico-facade serve` (JSON logs
//! at info) against `unico-facade emulator` in a process of its own (whose
//! per-process state and request log would otherwise count against the
//! facade), driven by N callers with a mix of successes and of the errors
//! callers cause, for M minutes.
//!
//! Every interval it prints calls/s, answers by gRPC code, and the facade's
//! RSS and open file descriptors; at the end, the totals and the drift of
//! RSS and FDs between the end of the warm-up (the first interval) and the
//! end. It exits non-zero if any call got a code the mix cannot cause (a
//! server-side failure), or FDs grew by more than the callers' connections.
//!
//! ```sh
//! cargo bench --bench soak -- --minutes 2 --callers 64
//! ```

// Printing the figures is the point of a soak.
#![allow(clippy::print_stdout)]

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::{Code, Request, transport::Channel};
use unico_facade::{
    metrics::code_name,
    pb::identity_v1::{
        CreateDocumentProcessRequest, DocumentFile, DocumentSubmission, DuiType, NewCapture,
        Purpose, SetProcessDocumentRequest, Subject,
        document_service_client::DocumentServiceClient, document_submission::Capture,
        process_service_client::ProcessServiceClient,
    },
};

const BIN: &str = env!("CARGO_BIN_EXE_unico-facade");
const TOKEN: &str = "Bearer emulator-token";
const API_KEY: &str = "emulator-apikey";
const CPF: &str = "52998224725";
/// Codes the mix is made to produce.
const EXPECTED: &[Code] = &[
    Code::Ok,
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
];

struct Options {
    minutes: f64,
    callers: usize,
    interval: Duration,
}

fn options() -> Options {
    let mut options = Options {
        minutes: 2.0,
        callers: 64,
        interval: Duration::from_secs(10),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag").as_str();
        match arg.as_str() {
            "--minutes" => options.minutes = value().parse().expect("--minutes N"),
            "--callers" => options.callers = value().parse().expect("--callers N"),
            "--interval-seconds" => {
                options.interval =
                    Duration::from_secs(value().parse().expect("--interval-seconds N"))
            }
            // cargo bench passes `--bench`.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A child process killed when dropped (the soak may panic).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> Process {
    Process(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts"),
    )
}

/// VmRSS in KiB and the number of open FDs of a process.
fn resources(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(2048, 0);
    bytes
}

fn authorized<T>(message: T, with_key: bool) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(Duration::from_secs(5));
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());
    if with_key {
        request
            .metadata_mut()
            .insert("apikey", API_KEY.parse().unwrap());
    }
    request
}

fn create(image: Vec<u8>) -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        subject: Some(Subject {
            dui_type: DuiType::BrCpf as i32,
            code: CPF.to_owned(),
            ..Subject::default()
        }),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: "auth-face-match".to_owned(),
            capture: Some(Capture::NewCapture(NewCapture {
                files: vec![DocumentFile { data: image.into() }],
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

/// One call of the mix, by its number.
async fn one_call(
    n: u64,
    caller: usize,
    process: &mut ProcessServiceClient<Channel>,
    document: &mut DocumentServiceClient<Channel>,
) -> Code {
    let set = |id: String| SetProcessDocumentRequest {
        process_id: id,
        dui_type: DuiType::BrCpf as i32,
        dui_value: CPF.to_owned(),
    };
    let outcome = match n % 20 {
        0..=11 => process
            .set_process_document(authorized(
                set(format!("awaiting-soak-{caller}-{n}")),
                false,
            ))
            .await
            .map(|_| ()),
        12 => process
            .set_process_document(authorized(set("proc-expired".to_owned()), false))
            .await
            .map(|_| ()),
        13 => process
            .set_process_document(authorized(set("no-such-process".to_owned()), false))
            .await
            .map(|_| ()),
        14 => process
            .set_process_document(authorized(set("..".to_owned()), false))
            .await
            .map(|_| ()),
        15..=18 => document
            .create_document_process(authorized(create(png(1280, 720)), true))
            .await
            .map(|_| ()),
        _ => document
            .create_document_process(authorized(create(png(100, 100)), true))
            .await
            .map(|_| ()),
    };
    match outcome {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let emulator_addr = free_port();
    let facade_addr = free_port();
    let emulator_url = format!("http://{emulator_addr}");
    let _emulator = start(&[
        "emulator",
        "--listen",
        &emulator_addr.to_string(),
        "--log-format",
        "json",
    ]);
    let facade = start(&[
        "serve",
        "--listen",
        &facade_addr.to_string(),
        "--idcloud-api-url",
        &emulator_url,
        "--id-api-url",
        &emulator_url,
        "--log-format",
        "json",
        "--drain-delay",
        "0s",
    ]);
    let pid = facade.0.id();
    let channel = loop {
        if let Ok(channel) = Channel::from_shared(format!("http://{facade_addr}"))
            .unwrap()
            .connect()
            .await
        {
            break channel;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Callers spread over 8 connections, as a few client pods would.
    let mut channels = vec![channel];
    for _ in 1..8 {
        channels.push(
            Channel::from_shared(format!("http://{facade_addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    println!(
        "soak: {} callers over {} connections for {} min; facade pid {pid}",
        options.callers,
        channels.len(),
        options.minutes
    );

    let counts: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
    let total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..options.callers)
        .map(|caller| {
            let channel = channels[caller % channels.len()].clone();
            let (counts, total, stop) = (counts.clone(), total.clone(), stop.clone());
            tokio::spawn(async move {
                let mut process = ProcessServiceClient::new(channel.clone());
                let mut document = DocumentServiceClient::new(channel);
                let mut n = caller as u64;
                while !stop.load(Ordering::Relaxed) {
                    let code = one_call(n, caller, &mut process, &mut document).await;
                    *counts.lock().unwrap().entry(code_name(code)).or_default() += 1;
                    total.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();

    let started = Instant::now();
    let length = Duration::from_secs_f64(options.minutes * 60.0);
    let mut last_total = 0;
    let mut baseline = None;
    let mut last = resources(pid);
    while started.elapsed() < length {
        tokio::time::sleep(
            options
                .interval
                .min(length.saturating_sub(started.elapsed())),
        )
        .await;
        let now_total = total.load(Ordering::Relaxed);
        let rate = (now_total - last_total) as f64 / options.interval.as_secs_f64();
        last_total = now_total;
        last = resources(pid);
        baseline.get_or_insert(last);
        let by_code = counts.lock().unwrap().clone();
        println!(
            "t={:>5.0}s calls/s={rate:>8.0} RSS={:>7.1} MiB FDs={:>4} {by_code:?}",
            started.elapsed().as_secs_f64(),
            last.0 as f64 / 1024.0,
            last.1,
        );
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        let _ = caller.await;
    }
    let by_code = counts.lock().unwrap().clone();
    let total = total.load(Ordering::Relaxed);
    let (rss0, fds0) = baseline.unwrap_or(last);
    println!(
        "soak done: {total} calls in {:.0}s ({:.0} calls/s); by code: {by_code:?}",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    println!(
        "RSS {:.1} -> {:.1} MiB (drift {:+.1} MiB); FDs {fds0} -> {} (drift {:+})",
        rss0 as f64 / 1024.0,
        last.0 as f64 / 1024.0,
        (last.0 as f64 - rss0 as f64) / 1024.0,
        last.1,
        last.1 as i64 - fds0 as i64
    );
    let unexpected: u64 = by_code
        .iter()
        .filter(|(code, _)| !EXPECTED.iter().any(|c| code_name(*c) == **code))
        .map(|(_, n)| n)
        .sum();
    let fd_drift = last.1 as i64 - fds0 as i64;
    if unexpected > 0 || fd_drift > 8 {
        println!("FAIL: {unexpected} calls with a code the mix cannot cause; FD drift {fd_drift}");
        std::process::exit(1);
    }
    println!("PASS");
}
