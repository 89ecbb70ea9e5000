//! Webhooks reach the replica that holds the watch: two facade instances
//! share a real `redis-server` (started by the test, as in
//! `idempotency_redis`) and one emulator; the vendor's webhook is delivered
//! to replica A while the WatchProcess is open on replica B.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use secrecy::SecretString;
use unico_facade::{
    emulator::{Emulator, EmulatorConfig, JourneyEnd, WebhookAuth, WebhookTarget},
    pb::identity_v1::{ProcessResult, ProcessState, WatchProcessRequest, WatchProcessResponse},
    process_events::FANOUT_CHANNEL,
    webhook,
};

use crate::{
    helpers::{Replica, authorized, set_cpf, spawn_replica},
    process_flow::{custom_flow_request, next},
    redis_server::{RedisServer, use_redis},
};

const WEBHOOK_USER: &str = "idcloud";
const WEBHOOK_PASSWORD: &str = "webhook-s3cret";

/// One facade instance of the pair, with its webhook receiver and metrics
/// listener, sharing the emulator and Redis.
async fn replica(emulator: &Emulator, redis: &RedisServer) -> Replica {
    spawn_replica(emulator, |settings| {
        use_redis(settings, redis);
        settings.webhook = Some(webhook::WebhookSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            auth: webhook::WebhookAuth::Basic {
                username: WEBHOOK_USER.into(),
                password: SecretString::from(WEBHOOK_PASSWORD),
            },
        });
        settings.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// What the pair's tests ask of a replica.
trait Watcher {
    async fn until_fanout_connected(&self, connected: bool);
    async fn created_process(&self) -> String;
    async fn watch(&self, id: &str) -> tonic::Streaming<WatchProcessResponse>;
}

impl Watcher for Replica {
    /// Waits (bounded) until the replica's fan-out state is `connected`.
    async fn until_fanout_connected(&self, connected: bool) {
        let line = format!(
            "unico_facade_webhook_fanout_connected{{store=\"redis\"}} {}",
            u8::from(connected)
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.metrics().await.contains(&line) {
            assert!(Instant::now() < deadline, "never reached `{line}`");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A custom-flow process with its document set: awaiting the journey.
    async fn created_process(&self) -> String {
        let request = custom_flow_request();
        let mut process = self.process.clone();
        let created = process
            .create_process(authorized(request))
            .await
            .expect("created")
            .into_inner()
            .process
            .expect("a process");
        process
            .set_process_document(authorized(set_cpf(&created.id)))
            .await
            .expect("document set");
        created.id
    }

    async fn watch(&self, id: &str) -> tonic::Streaming<WatchProcessResponse> {
        let mut request = authorized(WatchProcessRequest {
            process_id: id.into(),
        });
        request.set_timeout(Duration::from_secs(30));
        self.process
            .clone()
            .watch_process(request)
            .await
            .expect("the watch starts")
            .into_inner()
    }
}

/// Redis, one emulator delivering its webhooks to replica A, and A and B.
async fn two_replicas() -> (RedisServer, Emulator, Replica, Replica) {
    let redis = RedisServer::start();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let a = replica(&emulator, &redis).await;
    let b = replica(&emulator, &redis).await;
    emulator.set_webhook(Some(WebhookTarget {
        url: format!("http://{}{}", a.webhook_addr.unwrap(), webhook::PATH),
        auth: WebhookAuth::Basic {
            username: WEBHOOK_USER.into(),
            password: WEBHOOK_PASSWORD.into(),
        },
        copies: 1,
        delay_ms: 0,
    }));
    a.until_fanout_connected(true).await;
    b.until_fanout_connected(true).await;
    (redis, emulator, a, b)
}

#[tokio::test]
async fn a_webhook_delivered_to_replica_a_ends_a_watch_on_replica_b_within_a_second() {
    let (redis, emulator, a, b) = two_replicas().await;
    // What anyone subscribed to the channel sees.
    let listener = redis::Client::open(redis.url()).unwrap();
    let mut eavesdropper = listener.get_async_pubsub().await.unwrap();
    eavesdropper.subscribe(FANOUT_CHANNEL).await.unwrap();

    let id = b.created_process().await;
    let mut watch = b.watch(&id).await;
    assert_eq!(next(&mut watch).await.state, ProcessState::Created as i32);
    let finished_at = Instant::now();
    assert!(emulator.finish_journey(&id, JourneyEnd::Ok));
    let last = next(&mut watch).await;
    let elapsed = finished_at.elapsed();

    assert!(
        elapsed < Duration::from_secs(1),
        "ended {elapsed:?} after the webhook"
    );
    assert_eq!(last.state, ProcessState::Finished as i32);
    assert_eq!(last.result, ProcessResult::Ok as i32);
    assert!(watch.next().await.is_none(), "the stream ends with OK");
    assert!(
        a.metrics()
            .await
            .contains("unico_facade_webhook_deliveries_total{outcome=\"accepted\"} 1"),
        "the vendor delivered to A"
    );
    let (a_metrics, b_metrics) = (a.metrics().await, b.metrics().await);
    assert!(
        a_metrics.contains("unico_facade_webhook_fanout_messages_total{outcome=\"published\"} 1")
    );
    assert!(
        b_metrics.contains("unico_facade_webhook_fanout_messages_total{outcome=\"received\"} 1")
    );
    assert!(
        !b_metrics.contains("webhook_deliveries_total{outcome=\"accepted\"}"),
        "B heard of it through Redis only"
    );
    let message = tokio::time::timeout(Duration::from_secs(1), eavesdropper.on_message().next())
        .await
        .expect("the notice went through Redis")
        .unwrap();
    assert!(
        !String::from_utf8_lossy(message.get_payload_bytes()).contains(&id),
        "the process id does not travel in clear"
    );
}

#[tokio::test]
async fn a_notice_missed_while_redis_was_down_ends_the_watch_once_redis_returns() {
    let (mut redis, emulator, a, b) = two_replicas().await;
    let id = b.created_process().await;
    let mut watch = b.watch(&id).await;
    assert_eq!(next(&mut watch).await.state, ProcessState::Created as i32);

    redis.stop();
    b.until_fanout_connected(false).await;
    assert!(emulator.finish_journey(&id, JourneyEnd::Ok));
    // A took the delivery but could not share it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a
        .metrics()
        .await
        .contains("unico_facade_webhook_fanout_messages_total{outcome=\"publish_failed\"} 1")
    {
        assert!(Instant::now() < deadline, "A never tried to publish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    redis.restart();
    let last = tokio::time::timeout(Duration::from_secs(10), next(&mut watch))
        .await
        .expect("the watch reads once the fan-out is back");
    assert_eq!(last.state, ProcessState::Finished as i32);
    b.until_fanout_connected(true).await;
}
