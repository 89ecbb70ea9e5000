//! Idempotent creates across replicas: a real `redis-server` (Debian's
//! `redis-server` package; `.ci/run` installs it) started by the test on a
//! free loopback port with persistence off, and two facade instances
//! sharing it and one emulator.

use std::time::Duration;

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;
use unico_facade::{
    app::App,
    config::Settings,
    emulator::{EmulatedEndpoint, Emulator, EmulatorConfig, FaultScript},
    store::REDIS_HEALTH_NAME,
    upstream::UpstreamHosts,
};

use crate::{
    helpers::{API_KEY, CPF, Replica, TOKEN, answer, authorized_with_key, spawn_replica},
    idempotency::{Answer, create, creates_sent, keyed},
    redis_server::{RedisServer, use_redis},
};

/// One facade instance of the pair.
async fn replica(emulator: &Emulator, redis: &RedisServer) -> Replica {
    spawn_replica(emulator, |settings| use_redis(settings, redis)).await
}

/// Redis, one emulator, two replicas sharing both.
async fn two_replicas() -> (RedisServer, Emulator, Replica, Replica) {
    let redis = RedisServer::start();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let a = replica(&emulator, &redis).await;
    let b = replica(&emulator, &redis).await;
    (redis, emulator, a, b)
}

async fn send(replica: &Replica, request_id: &str) -> Answer {
    create(&replica.document, authorized_with_key(keyed(request_id))).await
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .unwrap()
        .reason
        .clone()
}

#[tokio::test]
async fn a_repeat_on_the_other_replica_gets_the_stored_answer_with_one_upstream_call() {
    let (_redis, emulator, a, b) = two_replicas().await;

    let (first, _) = send(&a, "9b2f4c1e-7d3a-4e8b-a1c5-0f6e2d9b8a7c").await;
    let (again, replayed) = send(&b, "9b2f4c1e-7d3a-4e8b-a1c5-0f6e2d9b8a7c").await;

    let first = first.unwrap();
    assert_eq!(again.unwrap(), first);
    assert!(replayed);
    // A repeat reads the record and leaves it as it was: later repeats, on
    // either replica, replay the same answer.
    for replica in [&a, &b, &a] {
        let (later, replayed) = send(replica, "9b2f4c1e-7d3a-4e8b-a1c5-0f6e2d9b8a7c").await;
        assert_eq!(later.unwrap(), first);
        assert!(replayed);
    }
    assert_eq!(creates_sent(&emulator), 1);
}

#[tokio::test]
async fn fifty_racing_duplicates_on_both_replicas_make_exactly_one_upstream_call() {
    let (_redis, emulator, a, b) = two_replicas().await;
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        delay_ms: Some(800),
        ..FaultScript::default()
    });

    let calls: Vec<_> = (0..50)
        .map(|i| {
            let client = if i % 2 == 0 { &a } else { &b }.document.clone();
            tokio::spawn(async move { create(&client, authorized_with_key(keyed("race-1"))).await })
        })
        .collect();
    let mut successes = 0;
    let mut in_progress = 0;
    for call in calls {
        match call.await.unwrap() {
            (Ok(_), false) => successes += 1,
            (Err(status), _) => {
                assert_eq!(
                    (status.code(), reason(&status).as_str()),
                    (Code::Aborted, "REQUEST_IN_PROGRESS"),
                    "{status:?}"
                );
                assert!(status.get_error_details().retry_info().is_some());
                in_progress += 1;
            }
            (Ok(_), true) => panic!("no duplicate should outlast the 800 ms first call"),
        }
    }
    assert_eq!((successes, in_progress), (1, 49));
    assert_eq!(creates_sent(&emulator), 1);
}

#[tokio::test]
async fn another_payload_a_vendor_error_and_a_timeout_behave_the_same_across_replicas() {
    let (_redis, emulator, a, b) = two_replicas().await;

    // Another payload under a used key: refused on the other replica.
    send(&a, "used").await.0.unwrap();
    let mut other = keyed("used");
    other.subject.as_mut().unwrap().name = "Leia Organa".into();
    let (refused, _) = create(&b.document, authorized_with_key(other)).await;
    let refused = refused.unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused).as_str()),
        (Code::InvalidArgument, "REQUEST_ID_REUSED")
    );

    // A vendor error: stored by one replica, replayed by the other.
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        ..answer(503, "<html>upstream busy</html>")
    });
    let (first, _) = send(&a, "vendor-503").await;
    let (again, replayed) = send(&b, "vendor-503").await;
    let (first, again) = (first.unwrap_err(), again.unwrap_err());
    assert_eq!(
        (first.code(), reason(&first)),
        (again.code(), reason(&again))
    );
    assert!(replayed);

    // A timeout: the other replica reports the unknown outcome.
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        delay_ms: Some(3_000),
        ..FaultScript::default()
    });
    let mut slow = authorized_with_key(keyed("slow"));
    slow.set_timeout(Duration::from_millis(400));
    let (timed_out, _) = create(&a.document, slow).await;
    assert_eq!(reason(&timed_out.unwrap_err()), "UPSTREAM_TIMEOUT");
    let (unknown, _) = send(&b, "slow").await;
    let unknown = unknown.unwrap_err();
    assert_eq!(
        (unknown.code(), reason(&unknown).as_str()),
        (Code::Aborted, "REQUEST_OUTCOME_UNKNOWN")
    );

    assert_eq!(
        creates_sent(&emulator),
        3,
        "one per key, nothing for the refusal"
    );
}

/// Retries a keyed create (bounded) while the store is unavailable.
async fn until_the_store_is_back(
    replica: &Replica,
    request_id: &str,
) -> (
    unico_facade::pb::identity_v1::CreateDocumentProcessResponse,
    bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match send(replica, request_id).await {
            (Ok(response), replayed) => return (response, replayed),
            (Err(status), _) if reason(&status) == "IDEMPOTENCY_STORE_UNAVAILABLE" => {
                assert!(tokio::time::Instant::now() < deadline, "never recovered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (Err(status), _) => panic!("unexpected {status:?}"),
        }
    }
}

async fn redis_health(replica: &Replica) -> i32 {
    HealthClient::new(replica.channel.clone())
        .check(HealthCheckRequest {
            service: REDIS_HEALTH_NAME.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn with_redis_down_keyed_creates_fail_closed_and_after_a_restart_they_recover() {
    let (mut redis, emulator, a, b) = two_replicas().await;
    send(&a, "before").await.0.unwrap();
    assert_eq!(redis_health(&a).await, ServingStatus::Serving as i32);

    redis.stop();
    for replica in [&a, &b] {
        let mut request = authorized_with_key(keyed("while-down"));
        request.set_timeout(Duration::from_secs(2));
        let (outcome, _) = create(&replica.document, request).await;
        let status = outcome.unwrap_err();
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::Unavailable, "IDEMPOTENCY_STORE_UNAVAILABLE"),
            "{status:?}"
        );
        assert!(status.get_error_details().retry_info().is_some());
        // Without a request id, creates do not need the store.
        send(replica, "")
            .await
            .0
            .expect("a create without a key still works");
        assert_eq!(
            redis_health(replica).await,
            ServingStatus::NotServing as i32
        );
    }
    let sent_while_down = creates_sent(&emulator);
    assert_eq!(sent_while_down, 3, "the keyed creates sent nothing");

    redis.restart();
    // The first command on a connection Redis dropped fails (closed, with
    // RetryInfo) and makes the manager reconnect: a retry then succeeds.
    let (recovered, replayed) = until_the_store_is_back(&b, "after-restart").await;
    assert!(!replayed);
    let (again, replayed) = until_the_store_is_back(&a, "after-restart").await;
    assert_eq!(again, recovered);
    assert!(
        replayed,
        "the other replica replays the answer stored after the restart"
    );
    assert_eq!(redis_health(&a).await, ServingStatus::Serving as i32);
    assert_eq!(creates_sent(&emulator), sent_while_down + 1);
}

#[tokio::test]
async fn the_store_shows_no_request_id_identifier_name_or_token_in_clear() {
    let (redis, emulator, a, b) = two_replicas().await;
    let request_id = "req-7f3c9a2e-secret-order";
    let mut request = keyed(request_id);
    request.subject.as_mut().unwrap().name = "Luke Skywalker".into();
    let (created, _) = create(&a.document, authorized_with_key(request.clone())).await;
    let created = created.unwrap();
    let (again, replayed) = create(&b.document, authorized_with_key(request)).await;
    assert_eq!(again.unwrap(), created);
    assert!(replayed);
    // A vendor error record too, and an unknown one.
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::CreateDocumentProcess),
        ..answer(503, "busy")
    });
    send(&a, "req-secret-error").await.0.unwrap_err();

    let keys = redis.cli(&["--scan"]);
    let keys: Vec<&str> = std::str::from_utf8(&keys).unwrap().lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let document = created.document.unwrap();
    let secrets = [
        request_id,
        "req-secret-error",
        CPF,
        "Luke Skywalker",
        "Luke",
        TOKEN,
        API_KEY,
        created.id.as_str(),
        document.id.as_str(),
        "storage.emulator",
    ];
    for key in &keys {
        assert!(key.starts_with("unico-facade:idempotency:v1:"), "{key}");
        let value = redis.cli(&["GET", key]);
        let dump = redis.cli(&["DUMP", key]);
        assert!(value.len() > 100, "a value is stored under {key}");
        for secret in secrets {
            for haystack in [key.as_bytes(), &value, &dump] {
                assert!(
                    !haystack
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "{secret} in clear in the store"
                );
            }
        }
        // Nor as base64 or JSON: the values are ciphertext.
        assert!(!value.windows(7).any(|w| w == b"\"state\""));
    }
    // TTLs are set: nothing stays for ever.
    for key in keys {
        let ttl = redis.cli(&["PTTL", key]);
        let ttl: i64 = std::str::from_utf8(&ttl).unwrap().trim().parse().unwrap();
        assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "{ttl}");
    }
}

#[tokio::test]
async fn a_redis_facade_without_encryption_keys_does_not_start() {
    let redis = RedisServer::start();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let hosts = UpstreamHosts::single(&emulator.base_url()).unwrap();
    let mut settings = Settings::new("127.0.0.1:0".parse().unwrap(), hosts);
    use_redis(&mut settings, &redis);
    settings.idempotency.keys = None;
    let error = App::build(settings).await.unwrap_err().to_string();
    assert!(error.contains("encryption keys"), "{error}");
}
