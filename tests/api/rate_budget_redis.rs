//! One outgoing rate budget for every replica of a tenant: a real
//! `redis-server` (see [`crate::redis_server`]), one emulator, and several
//! facade instances sharing both. What the vendor would count is read from
//! the emulator's recorder (the arrival time of every request).

use std::{num::NonZeroU32, time::Duration};

use tokio::{task::JoinHandle, time::Instant};
use tonic::{Code, Status};
use unico_facade::{
    config::Settings,
    emulator::{EmulatedEndpoint, Emulator, EmulatorConfig},
    rate_limit::Rate,
};

use crate::{
    helpers::{
        Expected, Replica, answer, assert_status, authorized, set_cpf, spawn_replica, value_of,
    },
    redis_server::{RedisServer, use_redis},
};

/// A store timeout no debug build on a loaded machine reaches, for the
/// tests that are not about it (a fallback would fail them).
const PATIENT: Duration = Duration::from_millis(500);

/// One facade instance of the fleet, with its metrics listener.
async fn replica(
    emulator: &Emulator,
    redis: &RedisServer,
    rate: &str,
    customize: impl FnOnce(&mut Settings),
) -> Replica {
    spawn_replica(emulator, |settings| {
        settings.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        settings.upstream_rate_limit = Some(rate.parse::<Rate>().unwrap());
        use_redis(settings, redis);
        customize(settings);
    })
    .await
}

/// Redis, one emulator and `n` replicas of one tenant sharing `rate`.
async fn fleet(
    n: usize,
    rate: &str,
    customize: impl Fn(&mut Settings),
) -> (RedisServer, Emulator, Vec<Replica>) {
    let redis = RedisServer::start();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(replica(&emulator, &redis, rate, &customize).await);
    }
    (redis, emulator, replicas)
}

/// A SetProcessDocument that succeeds (a new `awaiting-` process), within
/// `timeout`, spawned so that many run at once.
fn call(replica: &Replica, id: &str, timeout: Duration) -> JoinHandle<Result<(), Status>> {
    let mut client = replica.process.clone();
    let mut request = authorized(set_cpf(&format!("awaiting-{id}")));
    request.set_timeout(timeout);
    tokio::spawn(async move { client.set_process_document(request).await.map(|_| ()) })
}

/// When the emulator received each SetProcessDocument, in order.
fn arrivals(emulator: &Emulator) -> Vec<Duration> {
    let mut at: Vec<Duration> = emulator
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(EmulatedEndpoint::SetProcessDocument))
        .map(|r| Duration::from_micros(r.received_us))
        .collect();
    at.sort();
    at
}

/// Returns once the emulator has received `n` SetProcessDocuments (within
/// 5 s), looking every 5 ms: a tight loop would take a core from the other
/// tests.
async fn until_received(emulator: &Emulator, n: usize) {
    let started = Instant::now();
    while arrivals(emulator).len() < n {
        assert!(started.elapsed() < Duration::from_secs(5), "never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The most requests received in any window of `window`.
fn most_in_any_window(arrivals: &[Duration], window: Duration) -> usize {
    arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| arrivals[i..].partition_point(|at| *at < *start + window))
        .max()
        .unwrap_or(0)
}

/// A window a little shorter than a second: `rate` evenly spaced requests
/// fit it, one more would need the spacing broken, whatever the jitter of
/// timers and loopback on a loaded debug build (up to half an interval,
/// besides the facade's own guard).
fn second_less_half_an_interval(rate: u32) -> Duration {
    Duration::from_secs(1) - Duration::from_secs(1) / rate / 2
}

async fn metrics_of(replica: &Replica) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(format!("http://{}/metrics", replica.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn mode_of(replica: &Replica) -> &'static str {
    let text = metrics_of(replica).await;
    match (
        value_of(&text, "unico_facade_rate_limit_mode{mode=\"shared\"}"),
        value_of(&text, "unico_facade_rate_limit_mode{mode=\"local\"}"),
    ) {
        (1.0, 0.0) => "shared",
        (0.0, 1.0) => "local",
        other => panic!("the mode gauge reads {other:?}"),
    }
}

fn queue_full() -> Expected<'static> {
    Expected {
        code: Code::ResourceExhausted,
        reason: "UPSTREAM_RATE_LIMIT_QUEUE_FULL",
        upstream_http_status: None,
        upstream_code: None,
    }
}

// Several threads: the scan of Redis mid-burst blocks one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_budget_and_the_store_names_no_tenant() {
    let (redis, emulator, replicas) = fleet(3, "10/s", |s| {
        s.rate_limit.tenant = Some("acme-tenant".into());
        s.rate_limit.store_timeout = PATIENT;
    })
    .await;
    let started = Instant::now();

    // 6 calls on each replica at once: alone, each would send its 6 within
    // 0.55 s, all 18 within the first second together.
    let calls: Vec<_> = (0..18)
        .map(|i| {
            call(
                &replicas[i % 3],
                &format!("fleet-{i}"),
                Duration::from_secs(5),
            )
        })
        .collect();
    until_received(&emulator, 1).await;
    // The budget's keys are digests: no tenant name, token or key.
    let keys = redis.cli(&["--scan", "--pattern", "unico-facade:rate:*"]);
    let keys = String::from_utf8(keys).unwrap();
    assert!(!keys.trim().is_empty(), "the budget lives in Redis");
    for key in keys.lines() {
        assert!(key.starts_with("unico-facade:rate:v1:{"), "{key}");
        for secret in ["acme", "tenant", "emulator-token", "emulator-apikey"] {
            assert!(!key.contains(secret), "{secret} in {key}");
        }
    }
    for call in calls {
        call.await.unwrap().expect("every call fits its deadline");
    }

    let arrivals = arrivals(&emulator);
    assert_eq!(arrivals.len(), 18);
    let most = most_in_any_window(&arrivals, second_less_half_an_interval(10));
    let gaps: Vec<_> = arrivals
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert!(
        most <= 10,
        "{most} requests within a second at 10/s: gaps {gaps:?}"
    );
    // 18 slots 100 ms apart (and a little): the last 1.7 s after the first.
    let span = arrivals[17] - arrivals[0];
    assert!(span >= Duration::from_millis(1_700), "{span:?}");
    assert!(started.elapsed() >= Duration::from_millis(1_700));
    for replica in &replicas {
        assert_eq!(mode_of(replica).await, "shared");
        let text = metrics_of(replica).await;
        assert_eq!(
            value_of(&text, "unico_facade_rate_limit_fallbacks_total"),
            0.0
        );
    }
}

#[tokio::test]
async fn a_call_that_cannot_get_a_shared_slot_before_its_deadline_is_refused_at_once() {
    let (_redis, emulator, replicas) =
        fleet(2, "2/s", |s| s.rate_limit.store_timeout = PATIENT).await;
    // Replica A fills the budget: slots at 0, 0.5 s and 1 s.
    let fill: Vec<_> = (0..3)
        .map(|i| call(&replicas[0], &format!("fill-{i}"), Duration::from_secs(3)))
        .collect();
    until_received(&emulator, 1).await;

    // Replica B has sent nothing, yet its call cannot fit within 300 ms.
    let started = Instant::now();
    let refused = call(&replicas[1], "late", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(250), "at once");
    let details = assert_status(&refused, queue_full());
    let retry = details
        .retry_info()
        .expect("RetryInfo")
        .retry_delay
        .unwrap();
    assert!(retry > Duration::from_millis(300), "{retry:?}");

    for call in fill {
        call.await.unwrap().unwrap();
    }
    assert_eq!(arrivals(&emulator).len(), 3, "nothing sent for the refusal");
}

#[tokio::test]
async fn with_redis_down_each_replica_keeps_to_its_share_and_returns_when_redis_is_back() {
    let (mut redis, emulator, replicas) = fleet(2, "20/s", |s| {
        s.rate_limit.replicas = NonZeroU32::new(2).unwrap();
        s.rate_limit.probe_backoff = Duration::from_millis(300);
    })
    .await;
    for (i, replica) in replicas.iter().enumerate() {
        call(replica, &format!("before-{i}"), Duration::from_secs(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mode_of(replica).await, "shared");
    }

    redis.stop();
    let sent_before = arrivals(&emulator).len();
    let started = Instant::now();
    let calls: Vec<_> = (0..30)
        .map(|i| {
            call(
                &replicas[i % 2],
                &format!("down-{i}"),
                Duration::from_secs(4),
            )
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("no call is lost while Redis is down");
    }
    // Each replica sends its 15 at its share, 10/s: 1.4 s; at the whole
    // rate it would take 0.7 s, and the vendor would see 30 in a second.
    assert!(started.elapsed() >= Duration::from_millis(1_350));
    let down = &arrivals(&emulator)[sent_before..];
    assert_eq!(down.len(), 30);
    let most = most_in_any_window(down, second_less_half_an_interval(20));
    assert!(
        most <= 20,
        "{most} within a second: the shares add up to more"
    );
    for replica in &replicas {
        assert_eq!(mode_of(replica).await, "local");
        let text = metrics_of(replica).await;
        assert_eq!(
            value_of(&text, "unico_facade_rate_limit_fallbacks_total"),
            1.0,
            "one change of mode, however many calls"
        );
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(8);
    for (i, replica) in replicas.iter().enumerate() {
        let mut n = 0;
        while mode_of(replica).await != "shared" {
            assert!(Instant::now() < deadline, "never back to the shared budget");
            call(replica, &format!("after-{i}-{n}"), Duration::from_secs(2))
                .await
                .unwrap()
                .expect("calls go on while the replica probes Redis");
            n += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A burst on both: its schedule is in Redis (the key lives until the
    // last slot).
    let sent = arrivals(&emulator).len();
    let burst: Vec<_> = (0..10)
        .map(|i| {
            call(
                &replicas[i % 2],
                &format!("back-{i}"),
                Duration::from_secs(3),
            )
        })
        .collect();
    until_received(&emulator, sent + 1).await;
    let keys = redis.cli(&["--scan", "--pattern", "unico-facade:rate:*"]);
    assert!(!keys.is_empty(), "the budget is kept in Redis again");
    for call in burst {
        call.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_vendor_429_on_one_replica_holds_back_the_other() {
    let (_redis, emulator, replicas) =
        fleet(2, "10/s", |s| s.rate_limit.store_timeout = PATIENT).await;
    let mut limited = answer(429, "");
    limited.endpoint = Some(EmulatedEndpoint::SetProcessDocument);
    limited.headers = vec![("retry-after".into(), "1".into())];
    emulator.script_fault(limited);

    let status = call(&replicas[0], "limited", Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap_err();
    assert_status(
        &status,
        Expected {
            code: Code::ResourceExhausted,
            reason: "UPSTREAM_RATE_LIMITED",
            upstream_http_status: Some("429"),
            upstream_code: None,
        },
    );
    let limited_at = arrivals(&emulator)[0];

    // Replica B saw no 429, yet holds back for the vendor's second.
    let started = Instant::now();
    let refused = call(&replicas[1], "too-soon", Duration::from_millis(400))
        .await
        .unwrap()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(300), "at once");
    assert_status(&refused, queue_full());

    call(&replicas[1], "after-the-hold", Duration::from_secs(3))
        .await
        .unwrap()
        .expect("sent once the hold is over");
    let arrivals = arrivals(&emulator);
    assert_eq!(arrivals.len(), 2, "the refusal sent nothing");
    let gap = arrivals[1] - limited_at;
    assert!(
        gap >= Duration::from_millis(950),
        "sent {gap:?} after the 429"
    );
    let text = metrics_of(&replicas[0]).await;
    assert_eq!(value_of(&text, "unico_facade_rate_limit_holds_total"), 1.0);
}

#[tokio::test]
async fn a_slow_redis_costs_a_call_the_store_timeout_at_most_then_the_local_share() {
    let (redis, _emulator, replicas) = fleet(1, "20/s", |_| {}).await;
    call(&replicas[0], "warm", Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode_of(&replicas[0]).await, "shared");

    // Redis stalls for 2 s (one command blocks the server).
    let port = redis.port().to_string();
    let stall = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port, "DEBUG", "SLEEP", "2"])
            .output()
            .unwrap()
    });
    let started = Instant::now();
    let mut n = 0;
    while mode_of(&replicas[0]).await != "local" {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "never fell back"
        );
        let sent = Instant::now();
        call(&replicas[0], &format!("slow-{n}"), Duration::from_secs(3))
            .await
            .unwrap()
            .expect("a stalled Redis loses no call");
        // The store timeout (50 ms) and a slot of 20/s, not Redis's 2 s.
        assert!(
            sent.elapsed() < Duration::from_millis(500),
            "{:?}",
            sent.elapsed()
        );
        n += 1;
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    let text = metrics_of(&replicas[0]).await;
    assert_eq!(
        value_of(&text, "unico_facade_rate_limit_fallbacks_total"),
        1.0
    );
    assert!(String::from_utf8_lossy(&stall.join().unwrap().stdout).contains("OK"));
}

#[tokio::test]
async fn two_tenants_on_one_redis_keep_budgets_of_their_own() {
    let redis = RedisServer::start();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let tenant = |name: &'static str| {
        move |s: &mut Settings| {
            s.rate_limit.tenant = Some(name.into());
            s.rate_limit.store_timeout = PATIENT;
        }
    };
    let acme = replica(&emulator, &redis, "2/s", tenant("acme")).await;
    let globex = replica(&emulator, &redis, "2/s", tenant("globex")).await;
    let fill: Vec<_> = (0..3)
        .map(|i| call(&acme, &format!("acme-{i}"), Duration::from_secs(3)))
        .collect();
    until_received(&emulator, 1).await;

    // Acme's budget is full for a second; Globex's is untouched.
    let started = Instant::now();
    call(&globex, "globex", Duration::from_millis(300))
        .await
        .unwrap()
        .expect("another tenant's budget is free");
    assert!(started.elapsed() < Duration::from_millis(250));
    let refused = call(&acme, "acme-late", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap_err();
    assert_status(&refused, queue_full());
    for call in fill {
        call.await.unwrap().unwrap();
    }
}
