//! Facade-held credentials against the emulator's token endpoint: one token
//! request however many calls, refresh before expiry, refresh-and-retry once
//! on a rejected token, backoff on a failing token endpoint, the mapping of
//! the facade's own credential failures, and no secret in any log.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use rsa::{
    RsaPrivateKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
};
use secrecy::SecretString;
use tonic::{Code, Request};
use unico_facade::{
    config::CredentialSettings,
    credentials::{RefreshPolicy, ServiceAccount},
    emulator::{self, EmulatedEndpoint, EmulatorConfig, FaultScript},
    pb::identity_v1::{
        CreateDocumentProcessRequest, DocumentSubmission, DuiType, Purpose, ReuseDocument, Subject,
        document_submission::Capture,
    },
};

use crate::helpers::{Expected, TestApp, assert_status, set_cpf, spawn_app_with_emulator};

const ACCOUNT: &str = "facade-sa";
const TENANT: &str = "tenant-42";
const API_KEY: &str = "facade-apikey-secret";

/// One RSA keypair per test binary (PKCS#8 private PEM, SPKI public PEM).
fn keypair() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private_pem, public_pem)
    })
}

fn account() -> Arc<ServiceAccount> {
    Arc::new(ServiceAccount::from_pem(ACCOUNT, TENANT, keypair().0.as_bytes()).expect("key loads"))
}

fn issuer() -> String {
    format!("{ACCOUNT}@{TENANT}.iam.acesso.io")
}

fn emulator_for(public_pem: &str, token_ttl: Duration) -> EmulatorConfig {
    EmulatorConfig {
        service_accounts: vec![emulator::ServiceAccount {
            issuer: issuer(),
            public_key_pem: public_pem.to_owned(),
        }],
        accepted_api_keys: vec![API_KEY.to_owned()],
        token_ttl,
        ..EmulatorConfig::default()
    }
}

fn fast_policy() -> RefreshPolicy {
    RefreshPolicy {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        max_attempts: 4,
        rejection_cooldown: Duration::from_secs(30),
        ..RefreshPolicy::default()
    }
}

async fn facade_app(
    emulator: EmulatorConfig,
    api_key: &str,
    policy: RefreshPolicy,
    allow_caller_override: bool,
) -> TestApp {
    let api_key = api_key.to_owned();
    spawn_app_with_emulator(emulator, move |settings| {
        settings.credentials = CredentialSettings::FacadeHeld {
            account: account(),
            api_key: SecretString::from(api_key),
            audience: "https://identity.acesso.io".to_owned(),
            allow_caller_override,
            policy,
        };
    })
    .await
}

async fn app_with_ttl(ttl: Duration) -> TestApp {
    facade_app(
        emulator_for(&keypair().1, ttl),
        API_KEY,
        fast_policy(),
        false,
    )
    .await
}

/// A call with no credentials at all: the facade supplies them.
async fn set_document(app: &TestApp, process_id: &str) -> Result<(), tonic::Status> {
    app.process
        .clone()
        .set_process_document(Request::new(set_cpf(process_id)))
        .await
        .map(|_| ())
}

fn reuse_request() -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        subject: Some(Subject {
            dui_type: DuiType::BrCpf as i32,
            code: emulator::fixtures::SEEDED_DOCUMENT_CPF.into(),
            ..Default::default()
        }),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: "auth-face-match".into(),
            capture: Some(Capture::Reuse(ReuseDocument {
                document_id: emulator::fixtures::SEEDED_DOCUMENT_ID.into(),
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

fn api_calls(app: &TestApp) -> Vec<emulator::RecordedRequest> {
    app.requests()
        .into_iter()
        .filter(|r| {
            matches!(
                r.endpoint,
                Some(
                    EmulatedEndpoint::SetProcessDocument | EmulatedEndpoint::CreateDocumentProcess
                )
            )
        })
        .collect()
}

async fn burst(app: &TestApp, prefix: &str, calls: usize) {
    let mut tasks = Vec::with_capacity(calls);
    for i in 0..calls {
        let client = app.process.clone();
        let id = format!("awaiting-{prefix}-{i}");
        tasks.push(tokio::spawn(async move {
            let mut client = client;
            client
                .set_process_document(Request::new(set_cpf(&id)))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every call succeeds");
    }
}

#[tokio::test]
async fn two_hundred_concurrent_calls_share_one_token_at_start_and_at_expiry() {
    // Life 3 s, no refresh margin: the token serves until 2.7 s (a tenth
    // is kept back), then the next calls must wait for a new one.
    let policy = RefreshPolicy {
        margin: Duration::ZERO,
        ..fast_policy()
    };
    let app = facade_app(
        emulator_for(&keypair().1, Duration::from_secs(3)),
        API_KEY,
        policy,
        false,
    )
    .await;

    burst(&app, "first", 200).await;
    assert_eq!(
        app.emulator.token_requests(),
        1,
        "one token for the first burst"
    );

    tokio::time::sleep(Duration::from_millis(3_100)).await; // the token is now expired
    burst(&app, "second", 200).await;
    assert_eq!(
        app.emulator.token_requests(),
        2,
        "one refresh for the second burst"
    );

    let calls = api_calls(&app);
    assert_eq!(calls.len(), 400);
    assert!(
        calls.iter().all(|c| c.header("apikey").is_none()),
        "IDCloud takes no APIKEY"
    );
}

#[tokio::test]
async fn the_token_is_refreshed_ahead_of_expiry_without_making_calls_wait() {
    // Life 4 s: refreshed after 2 s (half the life), unusable after 3.6 s.
    let app = app_with_ttl(Duration::from_secs(4)).await;
    set_document(&app, "awaiting-a").await.unwrap();
    let first_token = api_calls(&app)[0]
        .header("authorization")
        .unwrap()
        .to_owned();

    tokio::time::sleep(Duration::from_millis(2_300)).await;
    set_document(&app, "awaiting-b").await.unwrap();
    assert_eq!(
        api_calls(&app)[1].header("authorization").unwrap(),
        first_token,
        "the call in the refresh window keeps the valid token"
    );
    let started = Instant::now();
    while app.emulator.token_requests() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the background refresh happens"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the refresh publish, then a call uses the new token.
    tokio::time::sleep(Duration::from_millis(50)).await;
    set_document(&app, "awaiting-c").await.unwrap();
    assert_ne!(
        api_calls(&app)[2].header("authorization").unwrap(),
        first_token
    );
    assert_eq!(app.emulator.token_requests(), 2);
}

#[tokio::test]
async fn a_token_rejected_with_401_is_refreshed_and_the_call_retried_once() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    set_document(&app, "awaiting-warm").await.unwrap();
    app.emulator.revoke_tokens();

    set_document(&app, "awaiting-after-revoke")
        .await
        .expect("retried with a new token");

    assert_eq!(app.emulator.token_requests(), 2);
    let calls = api_calls(&app);
    assert_eq!(calls.len(), 3, "the rejected call and its one retry");
    assert_ne!(
        calls[1].header("authorization"),
        calls[2].header("authorization")
    );
}

#[tokio::test]
async fn a_token_rejected_with_403_10501_is_refreshed_and_the_call_retried_once() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    app.document
        .clone()
        .create_document_process(Request::new(reuse_request()))
        .await
        .unwrap();
    app.emulator.revoke_tokens();

    app.document
        .clone()
        .create_document_process(Request::new(reuse_request()))
        .await
        .expect("retried with a new token");

    assert_eq!(app.emulator.token_requests(), 2);
    let calls = api_calls(&app);
    assert_eq!(calls.len(), 3);
    assert!(
        calls.iter().all(|c| c.header("apikey") == Some(API_KEY)),
        "the facade's API key"
    );
}

#[tokio::test]
async fn a_second_rejection_is_final_and_not_the_callers_fault() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    set_document(&app, "awaiting-warm").await.unwrap();
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::SetProcessDocument),
        times: 5,
        ..crate::helpers::answer(401, "Jwt is expired")
    });

    let status = set_document(&app, "awaiting-x").await.unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::Internal,
            reason: "UPSTREAM_CREDENTIALS_REJECTED",
            upstream_http_status: Some("401"),
            upstream_code: None,
        },
    );
    assert_eq!(
        api_calls(&app).len(),
        3,
        "the warm-up, the call, and exactly one retry"
    );
    assert_eq!(app.emulator.token_requests(), 2, "exactly one refresh");
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_with_backoff_then_unavailable() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::Token),
        times: 100,
        ..crate::helpers::answer(503, "<html>busy</html>")
    });

    let started = Instant::now();
    let status = set_document(&app, "awaiting-x").await.unwrap_err();
    let elapsed = started.elapsed();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Unavailable,
            reason: "UPSTREAM_TOKEN_UNAVAILABLE",
            upstream_http_status: Some("503"),
            upstream_code: None,
        },
    );
    assert!(details.retry_info().is_some());
    assert_eq!(
        app.emulator.token_requests(),
        4,
        "max_attempts, not a tight loop"
    );
    // Three backoffs of at least half of 100, 200 and 400 ms.
    assert!(
        elapsed >= Duration::from_millis(350),
        "backed off: {elapsed:?}"
    );

    // Within the cool-down, the next call does not hammer the endpoint.
    let status = set_document(&app, "awaiting-y").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(app.emulator.token_requests(), 4);
    assert!(api_calls(&app).is_empty(), "no API call without a token");
}

#[tokio::test]
async fn a_rejected_service_account_is_internal_with_the_vendor_code_and_not_retried() {
    // The emulator knows another public key: the signature cannot be validated.
    let other = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let other_public = other
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let app = facade_app(
        emulator_for(&other_public, Duration::from_secs(3600)),
        API_KEY,
        fast_policy(),
        false,
    )
    .await;

    let status = set_document(&app, "awaiting-x").await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::Internal,
            reason: "UPSTREAM_CREDENTIALS_REJECTED",
            upstream_http_status: status
                .get_error_details_metadata("upstreamHttpStatus")
                .as_deref(),
            upstream_code: None,
        },
    );
    assert_eq!(
        details.error_info().unwrap().metadata["tokenErrorCode"],
        "1.2.5"
    );
    for _ in 0..5 {
        set_document(&app, "awaiting-y").await.unwrap_err();
    }
    assert_eq!(
        app.emulator.token_requests(),
        1,
        "a rejection is not retried (lock-out risk)"
    );
}

trait MetadataOf {
    fn get_error_details_metadata(&self, key: &str) -> Option<String>;
}

impl MetadataOf for tonic::Status {
    fn get_error_details_metadata(&self, key: &str) -> Option<String> {
        use tonic_types::StatusExt;
        self.get_error_details()
            .error_info()?
            .metadata
            .get(key)
            .cloned()
    }
}

#[tokio::test]
async fn a_rejected_api_key_is_internal_in_facade_mode() {
    let app = facade_app(
        emulator_for(&keypair().1, Duration::from_secs(3600)),
        "wrong-key",
        fast_policy(),
        false,
    )
    .await;

    let status = app
        .document
        .clone()
        .create_document_process(Request::new(reuse_request()))
        .await
        .unwrap_err();

    assert_status(
        &status,
        Expected {
            code: Code::Internal,
            reason: "UPSTREAM_CREDENTIALS_REJECTED",
            upstream_http_status: Some("403"),
            upstream_code: Some("10201"),
        },
    );
    assert!(!status.message().contains("wrong-key"));
}

#[tokio::test]
async fn callers_credentials_are_not_forwarded_unless_overriding_is_allowed() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    let request = crate::helpers::authorized(set_cpf("awaiting-x"));
    app.process
        .clone()
        .set_process_document(request)
        .await
        .unwrap();
    let sent = api_calls(&app)[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_ne!(
        sent,
        format!("Bearer {}", crate::helpers::TOKEN),
        "the facade's token, not the caller's"
    );

    let app = facade_app(
        emulator_for(&keypair().1, Duration::from_secs(3600)),
        API_KEY,
        fast_policy(),
        true,
    )
    .await;
    let request = crate::helpers::authorized(set_cpf("awaiting-y"));
    app.process
        .clone()
        .set_process_document(request)
        .await
        .unwrap();
    assert_eq!(
        api_calls(&app)[0].header("authorization").unwrap(),
        format!("Bearer {}", crate::helpers::TOKEN),
        "overriding allowed: the caller's own token"
    );
    assert_eq!(app.emulator.token_requests(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_appears_in_the_logs_at_trace_level() {
    let (captured, _guard) = crate::helpers::capture_trace_logs();

    // Success, token rejection and refresh, a failing API key, a bad key.
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    set_document(&app, "awaiting-1").await.unwrap();
    app.emulator.revoke_tokens();
    set_document(&app, "awaiting-2").await.unwrap();
    app.document
        .clone()
        .create_document_process(Request::new(reuse_request()))
        .await
        .unwrap();
    let wrong_key = facade_app(
        emulator_for(&keypair().1, Duration::from_secs(3600)),
        "wrong-key-123",
        fast_policy(),
        false,
    )
    .await;
    let _ = wrong_key
        .document
        .clone()
        .create_document_process(Request::new(reuse_request()))
        .await;

    let logs = captured.text();
    assert!(logs.contains("access token refreshed"), "the capture works");
    let tokens: Vec<String> = api_calls(&app)
        .iter()
        .filter_map(|c| {
            c.header("authorization")
                .map(|h| h.trim_start_matches("Bearer ").to_owned())
        })
        .collect();
    assert!(!tokens.is_empty());
    let key_body: String = keypair()
        .0
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.extend([
        API_KEY,
        "wrong-key-123",
        &key_body[200..260],
        crate::helpers::CPF,
    ]);
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

#[tokio::test]
async fn serve_emulator_with_a_key_file_needs_no_caller_credentials() {
    use clap::Parser as _;
    use unico_facade::{
        app::App,
        config::{Cli, Command},
    };
    let dir = std::env::temp_dir().join(format!("unico-facade-sa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("sa.pem");
    std::fs::write(&key_file, &keypair().0).unwrap();
    let cli = Cli::try_parse_from([
        "unico-facade",
        "serve",
        "--emulator",
        "--listen",
        "127.0.0.1:0",
        "--drain-delay",
        "0s",
        "--credentials",
        "facade-held",
        "--service-account-name",
        "demo",
        "--tenant-id",
        "acme",
        "--private-key-file",
        key_file.to_str().unwrap(),
    ])
    .unwrap();
    let Command::Serve(args) = cli.command else {
        unreachable!("serve was parsed")
    };
    let settings = args
        .settings_with_api_key(Some("demo-api-key".to_owned()))
        .unwrap();
    assert!(
        !format!("{settings:?}").contains("demo-api-key"),
        "settings never print the key"
    );
    let app = App::build(settings).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        unico_facade::pb::identity_v1::process_service_client::ProcessServiceClient::new(
            channel.clone(),
        );
    client
        .set_process_document(Request::new(set_cpf("awaiting-sa-demo")))
        .await
        .expect("the facade's own service account and token");
    let mut documents =
        unico_facade::pb::identity_v1::document_service_client::DocumentServiceClient::new(channel);
    documents
        .create_document_process(Request::new(reuse_request()))
        .await
        .expect("the facade's own API key too");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_caller_waiting_on_a_stalled_refresh_keeps_its_own_deadline() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::Token),
        delay_ms: Some(3_000),
        ..FaultScript::default()
    });
    let request = Request::new(set_cpf("awaiting-x"));

    let (status, elapsed) = app
        .set_document_failing_within(request, Duration::from_millis(300))
        .await;

    assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
    assert_status(
        &status,
        Expected {
            code: Code::DeadlineExceeded,
            reason: "UPSTREAM_TOKEN_TIMEOUT",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    // The refresh goes on for the next callers: it is not cancelled with this one.
    set_document(&app, "awaiting-y")
        .await
        .expect("the refresh completes for later calls");
    assert_eq!(app.emulator.token_requests(), 1);
}

/// The facade's own credentials, answered as the tables of
/// `responsible_party.rs` decide for the caller's: never the caller's
/// fault, never a refresh for a permission.
#[tokio::test]
async fn the_facades_own_account_refused_is_internal_and_not_the_callers_fault() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    let use_case = r#"{"error":{"code":20062,"message":"The useCase field is invalid."}}"#;
    let cases = [
        // A 403 without a code: PERMISSION_DENIED with the caller's
        // credentials, the facade's account here.
        (
            EmulatedEndpoint::SetProcessDocument,
            403,
            "Forbidden",
            "UPSTREAM_CREDENTIALS_REJECTED",
            None,
        ),
        (
            EmulatedEndpoint::CreateDocumentProcess,
            403,
            "Forbidden",
            "UPSTREAM_CREDENTIALS_REJECTED",
            None,
        ),
        // The use case of the facade's own API key.
        (
            EmulatedEndpoint::CreateDocumentProcess,
            400,
            use_case,
            "UPSTREAM_TENANT_MISCONFIGURED",
            Some("20062"),
        ),
    ];
    for (i, (endpoint, http, body, reason, code)) in cases.into_iter().enumerate() {
        app.script(FaultScript {
            endpoint: Some(endpoint),
            ..crate::helpers::answer(http, body)
        });

        let status = match endpoint {
            EmulatedEndpoint::SetProcessDocument => set_document(&app, "awaiting-x").await,
            _ => app
                .document
                .clone()
                .create_document_process(Request::new(reuse_request()))
                .await
                .map(|_| ()),
        }
        .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::Internal,
                reason,
                upstream_http_status: Some(&http.to_string()),
                upstream_code: code,
            },
        );
        assert!(details.precondition_failure().is_none(), "{reason}");
        assert_eq!(details.error_info().unwrap().metadata["origin"], "upstream");
        assert_eq!(api_calls(&app).len(), i + 1, "{reason}: never retried");
    }
    assert_eq!(
        app.emulator.token_requests(),
        1,
        "no refresh for a permission"
    );
}
