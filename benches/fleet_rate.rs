//! The shared rate budget of a fleet, measured on the release binary as
//! deployed: one `redis-server`, one `unico-facade emulator` process (the
//! vendor), and two, then four `unico-facade serve` processes sharing a
//! budget of 10/s through the Redis.
//!
//! For each fleet size it prints:
//! - a burst: 60 callers at once, spread over the replicas; every call must
//!   get its slot within its deadline; the most requests the vendor
//!   received in any 1 s window (the budget: ≤ 10), and the rate they came
//!   at;
//! - under the budget: calls 125 ms apart (8/s, round-robin over the
//!   replicas) for 5 s; each call's latency less the wait the budget
//!   required of it (a GCRA replayed on the send times), against the same
//!   schedule on replicas with no rate limit: the difference is the wait
//!   beyond need.
//!
//! ```sh
//! cargo bench --bench fleet_rate
//! ```
//! It needs `redis-server` (Debian's `redis-server` package). It exits
//! non-zero if the vendor saw more than the budget in a window or a call
//! failed.

// Printing the figures is the point of a benchmark.
#![allow(clippy::print_stdout)]

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use tonic::{Request, transport::Channel};
use unico_facade::pb::identity_v1::{
    DuiType, SetProcessDocumentRequest, process_service_client::ProcessServiceClient,
};

const BIN: &str = env!("CARGO_BIN_EXE_unico-facade");
const RATE: &str = "10/s";
const BUDGET: usize = 10;
/// The facade's default window guard (config::defaults): 10 calls span 1.025 s.
const SPACING: Duration = Duration::from_micros(102_500);
const BURST: usize = 60;
const UNDER_BUDGET_GAP: Duration = Duration::from_millis(125);
const UNDER_BUDGET_CALLS: usize = 40;
/// Encryption keys of the idempotency store, required with Redis.
const KEYS: &str = "bench:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A child process killed when dropped (the benchmark may panic).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server(port: u16) -> Process {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run redis-server ({error}): install the Debian package `redis-server`")
        });
    Process(child)
}

fn facade(listen: SocketAddr, emulator: &str, redis: Option<&str>, replicas: usize) -> Process {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", &listen.to_string()])
        .args(["--idcloud-api-url", emulator, "--id-api-url", emulator])
        .args(["--drain-delay", "0s", "--log-format", "json"])
        .env("RUST_LOG", "warn")
        .env("UNICO_FACADE_IDEMPOTENCY_KEYS", KEYS)
        .stdout(Stdio::null());
    if let Some(redis) = redis {
        command
            .args(["--upstream-rate-limit", RATE, "--redis-url", redis])
            .args(["--rate-limit-replicas", &replicas.to_string()]);
    }
    Process(command.spawn().expect("the binary starts"))
}

async fn connect(addr: SocketAddr) -> ProcessServiceClient<Channel> {
    let started = Instant::now();
    loop {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            return ProcessServiceClient::new(channel);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{addr} never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One SetProcessDocument that succeeds (a new `awaiting-` process): its
/// latency, or the gRPC code it failed with.
async fn one_call(
    mut client: ProcessServiceClient<Channel>,
    id: String,
    deadline: Duration,
) -> Result<Duration, tonic::Code> {
    let mut request = Request::new(SetProcessDocumentRequest {
        process_id: format!("awaiting-{id}"),
        dui_type: DuiType::BrCpf as i32,
        dui_value: "52998224725".into(),
    });
    request.set_timeout(deadline);
    request
        .metadata_mut()
        .insert("authorization", "Bearer emulator-token".parse().unwrap());
    let started = Instant::now();
    client
        .set_process_document(request)
        .await
        .map(|_| started.elapsed())
        .map_err(|status| status.code())
}

/// When the emulator received each SetProcessDocument, in order.
async fn vendor_arrivals(http: &reqwest::Client, emulator: &str) -> Vec<Duration> {
    let requests: serde_json::Value = http
        .get(format!("{emulator}/__emulator/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut at: Vec<Duration> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "set-process-document")
        .map(|r| Duration::from_micros(r["received_us"].as_u64().unwrap()))
        .collect();
    at.sort();
    at
}

fn most_in_any_second(arrivals: &[Duration]) -> usize {
    arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| arrivals[i..].partition_point(|at| *at < *start + Duration::from_secs(1)))
        .max()
        .unwrap_or(0)
}

/// The wait a GCRA at `SPACING` requires of calls sent at `sends`.
fn needed_waits(sends: &[Duration]) -> Vec<Duration> {
    let mut tat = Duration::ZERO;
    sends
        .iter()
        .map(|sent| {
            let slot = tat.max(*sent);
            tat = slot + SPACING;
            slot - *sent
        })
        .collect()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Calls `UNDER_BUDGET_GAP` apart, round-robin over `clients`: each call's
/// latency less the wait the budget required of it, sorted.
async fn under_budget(clients: &[ProcessServiceClient<Channel>], tag: &str) -> Vec<Duration> {
    let started = Instant::now();
    let mut calls = Vec::new();
    let mut sends = Vec::new();
    for i in 0..UNDER_BUDGET_CALLS {
        tokio::time::sleep_until((started + UNDER_BUDGET_GAP * i as u32).into()).await;
        sends.push(started.elapsed());
        calls.push(tokio::spawn(one_call(
            clients[i % clients.len()].clone(),
            format!("{tag}-{i}"),
            Duration::from_secs(5),
        )));
    }
    let mut beyond = Vec::new();
    for (call, need) in calls.into_iter().zip(needed_waits(&sends)) {
        let latency = call.await.unwrap().expect("an under-budget call succeeds");
        beyond.push(latency.saturating_sub(need));
    }
    beyond.sort();
    beyond
}

async fn fleet(
    replicas: usize,
    emulator: &str,
    redis: Option<&str>,
) -> (Vec<Process>, Vec<ProcessServiceClient<Channel>>) {
    let addrs: Vec<SocketAddr> = (0..replicas).map(|_| free_port()).collect();
    let processes = addrs
        .iter()
        .map(|addr| facade(*addr, emulator, redis, replicas))
        .collect();
    let mut clients = Vec::new();
    for addr in addrs {
        clients.push(connect(addr).await);
    }
    (processes, clients)
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let redis_port = free_port().port();
    let _redis = redis_server(redis_port);
    let redis_url = format!("redis://127.0.0.1:{redis_port}/");
    let emulator_addr = free_port();
    let emulator = format!("http://{emulator_addr}");
    let _emulator = Process(
        Command::new(BIN)
            .args(["emulator", "--listen", &emulator_addr.to_string()])
            .args(["--log-format", "json"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the emulator starts"),
    );
    let mut ok = true;
    println!("fleet-rate: budget {RATE} shared through Redis, one emulator as the vendor");

    for replicas in [2, 4] {
        // A fresh budget and an empty request log for each fleet.
        let _ = Command::new("redis-cli")
            .args(["-p", &redis_port.to_string(), "FLUSHALL"])
            .output();
        let (_baseline_processes, baseline) = fleet(replicas, &emulator, None).await;
        let base = under_budget(&baseline, &format!("base{replicas}")).await;
        drop(_baseline_processes);

        let (_processes, clients) = fleet(replicas, &emulator, Some(&redis_url)).await;
        http.delete(format!("{emulator}/__emulator/requests"))
            .send()
            .await
            .unwrap();
        let started = Instant::now();
        let calls: Vec<_> = (0..BURST)
            .map(|i| {
                tokio::spawn(one_call(
                    clients[i % replicas].clone(),
                    format!("burst{replicas}-{i}"),
                    Duration::from_secs(10),
                ))
            })
            .collect();
        let mut failed = 0;
        for call in calls {
            if call.await.unwrap().is_err() {
                failed += 1;
            }
        }
        let elapsed = started.elapsed();
        let arrivals = vendor_arrivals(&http, &emulator).await;
        let most = most_in_any_second(&arrivals);
        let span = arrivals.last().copied().unwrap_or_default() - arrivals[0];
        let rate = (arrivals.len() - 1) as f64 / span.as_secs_f64();
        println!(
            "{replicas} replicas, burst of {BURST} callers: {} ok, {failed} failed, in {:.2} s; \
             the vendor saw {} requests, at most {most} in any 1 s window (budget {BUDGET}), \
             {rate:.2}/s",
            BURST - failed,
            elapsed.as_secs_f64(),
            arrivals.len()
        );
        ok &= failed == 0 && most <= BUDGET && arrivals.len() == BURST;

        // The burst's last reservations are behind: a free budget.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let limited = under_budget(&clients, &format!("under{replicas}")).await;
        let p50 = |v: &[Duration]| v[v.len() / 2];
        let max = |v: &[Duration]| v[v.len() - 1];
        println!(
            "{replicas} replicas, under the budget (8/s): latency less the required wait \
             p50 {:.2} ms, max {:.2} ms; without a rate limit p50 {:.2} ms, max {:.2} ms; \
             wait beyond need: p50 {:.2} ms, max {:.2} ms",
            ms(p50(&limited)),
            ms(max(&limited)),
            ms(p50(&base)),
            ms(max(&base)),
            ms(p50(&limited).saturating_sub(p50(&base))),
            ms(max(&limited).saturating_sub(p50(&base))),
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        println!("FAILED: a call failed or the vendor saw more than the budget in a window");
        ExitCode::FAILURE
    }
}
