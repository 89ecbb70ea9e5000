//! The token endpoint: assertions signed at test time by a keypair generated once per test binary
//! (never a committed secret), every documented refusal, single use, lock-out, the issued token on
//! both API endpoints until it expires or is revoked, and fault scripting.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use super::{Reply, client, send, start, start_with, unix_now};
use crate::emulator::{EmulatedEndpoint, Emulator, EmulatorConfig, FaultScript, ServiceAccount};

const ISSUER: &str = "facade-sa@tenant-42.iam.acesso.io";
/// Same tenant, an account the emulator has no key for.
const STRANGER: &str = "stranger@tenant-42.iam.acesso.io";
/// A second configured account, for "the lock is per account".
const NEIGHBOUR: &str = "neighbour@tenant-42.iam.acesso.io";
const AUDIENCE: &str = "https://identity.acesso.io";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CPF_BODY: &str = r#"{"duiType":"DUI_TYPE_BR_CPF","duiValue":"12345678901"}"#;

/// A test keypair: the signing key and the public key in PEM (SPKI).
struct Keys {
    signing: EncodingKey,
    public_pem: String,
}

fn generate() -> Keys {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("key generation");
    let der = private.to_pkcs1_der().expect("private key encodes");
    Keys {
        signing: EncodingKey::from_rsa_der(der.as_bytes()),
        public_pem: private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public key encodes"),
    }
}

/// The service account's keypair, generated once for the whole test binary.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(generate)
}

/// Another keypair: a key the emulator does not know.
fn other_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        service_accounts: [ISSUER, NEIGHBOUR]
            .map(|issuer| ServiceAccount {
                issuer: issuer.to_owned(),
                public_key_pem: keys().public_pem.clone(),
            })
            .to_vec(),
        ..EmulatorConfig::default()
    }
}

/// The five claims of a valid assertion. `exp` varies between calls, as a careful client's
/// would, so that no two assertions are identical (each is single use).
fn claims() -> Value {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let now = unix_now();
    let exp = now + 600 - SEQUENCE.fetch_add(1, Ordering::Relaxed) % 300;
    json!({ "iss": ISSUER, "aud": AUDIENCE, "scope": "*", "iat": now, "exp": exp })
}

/// `claims()` with `name` set, or removed when `value` is `None`.
fn claims_with(changes: &[(&str, Option<Value>)]) -> Value {
    let mut claims = claims();
    let object = claims.as_object_mut().expect("an object");
    for (name, value) in changes {
        match value {
            Some(value) => object.insert((*name).to_owned(), value.clone()),
            None => object.remove(*name),
        };
    }
    claims
}

/// A compact JWS of exactly this header and these claims, signed RS256 by `key`.
fn sign_with(header: &Value, claims: &Value, key: &EncodingKey) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(signed.as_bytes(), key, Algorithm::RS256).expect("signs");
    format!("{signed}.{signature}")
}

fn rs256() -> Value {
    json!({ "alg": "RS256", "typ": "JWT" })
}

/// An assertion as the vendor's page describes it, with these claims.
fn assertion(claims: &Value) -> String {
    sign_with(&rs256(), claims, &keys().signing)
}

async fn post_form(emulator: &Emulator, body: String) -> Reply {
    send(
        client()
            .post(format!("{}/oauth2/token", emulator.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

async fn exchange(emulator: &Emulator, assertion: &str) -> Reply {
    send(
        client()
            .post(format!("{}/oauth2/token", emulator.base_url()))
            .form(&[("grant_type", GRANT_TYPE), ("assertion", assertion)]),
    )
    .await
}

/// Exchanges a fresh valid assertion; the access token.
async fn token(emulator: &Emulator) -> String {
    let reply = exchange(emulator, &assertion(&claims())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

fn refusal(code: &str) -> Value {
    json!({ "error": "server_error", "error_description": format!("Falha na autenticação {code}") })
}

fn assert_refused(reply: &Reply, code: &str, case: &str) {
    assert_eq!((reply.status, reply.json()), (400, refusal(code)), "{case}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{case}"
    );
}

async fn set_document(emulator: &Emulator, process_id: &str, token: &str) -> Reply {
    send(
        client()
            .post(format!(
                "{}/client/v1/process/{process_id}/document",
                emulator.base_url()
            ))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(CPF_BODY),
    )
    .await
}

async fn reuse_document(emulator: &Emulator, token: &str) -> Reply {
    let body = json!({
        "subject": { "duiType": "DUI_TYPE_BR_CPF", "code": "52998224725" },
        "document": { "purpose": "onboarding", "authProcessId": "auth-face-match", "documentId": "doc-seeded-cnh" },
    });
    send(
        client()
            .post(format!("{}/processes/v1", emulator.base_url()))
            .bearer_auth(token)
            .header("APIKEY", "emulator-apikey")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

fn id_api_code(reply: &Reply) -> Value {
    reply.json()["error"]["code"].clone()
}

/// Moves the tokio clock (which issued tokens and locks follow) without sleeping. Real network
/// I/O runs before and after, with the clock running again.
async fn skip(duration: Duration) {
    tokio::time::pause();
    tokio::time::advance(duration).await;
    tokio::time::resume();
}

#[tokio::test]
async fn a_valid_assertion_gets_a_token_that_both_api_endpoints_accept() {
    let emulator = start_with(config()).await;

    let reply = exchange(&emulator, &assertion(&claims())).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let granted = reply.json();
    let token = granted["access_token"].as_str().expect("a token string");
    assert!(token.starts_with("emu-at-"), "opaque: {token}");
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 3600);
    assert_eq!(granted.as_object().map(|o| o.len()), Some(3));

    assert_eq!(
        set_document(&emulator, "awaiting-1", token).await.status,
        200
    );
    assert_eq!(reuse_document(&emulator, token).await.status, 200);
    assert_eq!(emulator.issued_token_count(), 1);
    assert_eq!(emulator.token_requests(), 1);

    // What was sent is recorded, as for every endpoint.
    let recorded = &emulator.requests()[0];
    assert_eq!(recorded.endpoint, Some(EmulatedEndpoint::Token));
    assert_eq!(recorded.raw_path, "/oauth2/token");
    let serialized = serde_json::to_value(recorded).expect("serializes");
    assert_eq!(serialized["endpoint"], "token");
    assert!(
        String::from_utf8_lossy(&recorded.body).starts_with("grant_type=urn%3Aietf%3Aparams"),
        "the form as sent"
    );
}

#[tokio::test]
async fn each_refused_assertion_answers_its_documented_code() {
    let emulator = start_with(EmulatorConfig {
        // Every refusal below counts against the account: no lock here, see the lock-out test.
        lockout_after_failures: 0,
        ..config()
    })
    .await;
    let now = unix_now();
    let other_key = &other_keys().signing;
    let tampered = {
        let genuine = assertion(&claims());
        let (_, signature) = genuine.rsplit_once('.').expect("three parts");
        let forged =
            URL_SAFE_NO_PAD.encode(claims_with(&[("scope", Some(json!("admin")))]).to_string());
        format!(
            "{}.{forged}.{signature}",
            URL_SAFE_NO_PAD.encode(rs256().to_string())
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        // Cannot be decoded.
        ("not a JWT", "not-a-jwt".into(), "1.2.20"),
        ("two segments", "eyJhIjoxfQ.eyJhIjoxfQ".into(), "1.2.20"),
        (
            "payload not JSON",
            format!(
                "{}.bm90IGpzb24.c2ln",
                URL_SAFE_NO_PAD.encode(rs256().to_string())
            ),
            "1.2.20",
        ),
        (
            "header without typ",
            sign_with(&json!({ "alg": "RS256" }), &claims(), &keys().signing),
            "1.2.20",
        ),
        (
            "header with kid",
            sign_with(
                &json!({ "alg": "RS256", "typ": "JWT", "kid": "1" }),
                &claims(),
                &keys().signing,
            ),
            "1.2.20",
        ),
        // The issuer.
        ("no iss", assertion(&claims_with(&[("iss", None)])), "1.0.1"),
        (
            "iss not an issuer",
            assertion(&claims_with(&[("iss", Some(json!("facade-sa")))])),
            "1.0.1",
        ),
        (
            "unknown tenant",
            assertion(&claims_with(&[(
                "iss",
                Some(json!("facade-sa@tenant-7.iam.acesso.io")),
            )])),
            "1.0.1",
        ),
        (
            "account without a key here",
            assertion(&claims_with(&[("iss", Some(json!(STRANGER)))])),
            "1.2.5",
        ),
        // The signature.
        (
            "signed by another key",
            sign_with(&rs256(), &claims(), other_key),
            "1.2.5",
        ),
        ("claims changed after signing", tampered, "1.2.5"),
        (
            "alg HS256",
            sign_with(
                &json!({ "alg": "HS256", "typ": "JWT" }),
                &claims(),
                &keys().signing,
            ),
            "1.2.5",
        ),
        // The claims.
        (
            "sub",
            assertion(&claims_with(&[("sub", Some(json!("someone")))])),
            "1.2.19",
        ),
        (
            "jti",
            assertion(&claims_with(&[("jti", Some(json!("1")))])),
            "1.2.22",
        ),
        (
            "nbf",
            assertion(&claims_with(&[("nbf", Some(json!(now)))])),
            "1.2.22",
        ),
        (
            "sub and jti",
            assertion(&claims_with(&[
                ("sub", Some(json!("x"))),
                ("jti", Some(json!("1"))),
            ])),
            "1.2.22",
        ),
        (
            "no scope",
            assertion(&claims_with(&[("scope", None)])),
            "1.1.1",
        ),
        (
            "empty scope",
            assertion(&claims_with(&[("scope", Some(json!("")))])),
            "1.1.1",
        ),
        (
            "aud with a trailing slash",
            assertion(&claims_with(&[(
                "aud",
                Some(json!("https://identity.acesso.io/")),
            )])),
            "1.2.5",
        ),
        (
            "the sandbox's aud",
            assertion(&claims_with(&[(
                "aud",
                Some(json!("https://identityhomolog.acesso.io")),
            )])),
            "1.2.5",
        ),
        ("no aud", assertion(&claims_with(&[("aud", None)])), "1.2.5"),
        (
            "iat a string",
            assertion(&claims_with(&[("iat", Some(json!(now.to_string())))])),
            "1.2.21",
        ),
        (
            "no exp",
            assertion(&claims_with(&[("exp", None)])),
            "1.2.21",
        ),
        (
            "exp - iat over an hour",
            assertion(&claims_with(&[
                ("iat", Some(json!(now))),
                ("exp", Some(json!(now + 3601))),
            ])),
            "1.2.21",
        ),
        (
            "exp before iat",
            assertion(&claims_with(&[
                ("iat", Some(json!(now))),
                ("exp", Some(json!(now - 1))),
            ])),
            "1.2.21",
        ),
        (
            "iat in the future",
            assertion(&claims_with(&[
                ("iat", Some(json!(now + 300))),
                ("exp", Some(json!(now + 600))),
            ])),
            "1.2.21",
        ),
        (
            "expired",
            assertion(&claims_with(&[
                ("iat", Some(json!(now - 700))),
                ("exp", Some(json!(now - 100))),
            ])),
            "1.2.4",
        ),
    ];

    for (case, text, code) in &cases {
        let reply = exchange(&emulator, text).await;
        assert_refused(&reply, code, case);
    }

    assert_eq!(emulator.issued_token_count(), 0);
    assert_eq!(emulator.token_requests(), cases.len());
    // The limits themselves pass: exactly an hour, iat a minute ahead.
    let edge = claims_with(&[
        ("iat", Some(json!(now + 60))),
        ("exp", Some(json!(now + 3660))),
    ]);
    assert_eq!(exchange(&emulator, &assertion(&edge)).await.status, 200);
}

#[tokio::test]
async fn without_service_accounts_every_assertion_is_refused() {
    let emulator = start().await;

    let reply = exchange(&emulator, &assertion(&claims())).await;

    assert_refused(&reply, "1.0.1", "no account configured");
}

#[tokio::test]
async fn an_assertion_is_used_once() {
    let emulator = start_with(config()).await;
    let text = assertion(&claims());

    let first = exchange(&emulator, &text).await;
    let second = exchange(&emulator, &text).await;

    assert_eq!(first.status, 200);
    assert_refused(&second, "1.2.7", "the same assertion again");
    assert_eq!(emulator.issued_token_count(), 1);
    // A fresh one (other claims, so another signature) is fine.
    assert_eq!(exchange(&emulator, &assertion(&claims())).await.status, 200);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_the_lock_period() {
    let emulator = start_with(EmulatorConfig {
        lockout_after_failures: 3,
        lockout_duration: Duration::from_secs(60),
        ..config()
    })
    .await;
    let forged = || sign_with(&rs256(), &claims(), &other_keys().signing);

    for attempt in 1..=3 {
        let reply = exchange(&emulator, &forged()).await;
        assert_refused(&reply, "1.2.5", &format!("failure {attempt}"));
    }
    // Locked: even a valid assertion is refused, and a bad one says "locked" too.
    let valid = assertion(&claims());
    assert_refused(
        &exchange(&emulator, &valid).await,
        "1.2.18",
        "valid, locked",
    );
    assert_refused(
        &exchange(&emulator, &forged()).await,
        "1.2.18",
        "bad, locked",
    );
    // The lock is the account's: another account of the tenant still gets tokens.
    let neighbour = assertion(&claims_with(&[("iss", Some(json!(NEIGHBOUR)))]));
    assert_eq!(exchange(&emulator, &neighbour).await.status, 200);
    // Failures that name no known account cannot lock anyone.
    for _ in 0..5 {
        exchange(&emulator, "not-a-jwt").await;
    }

    skip(Duration::from_secs(60)).await;

    // The refused valid assertion was not consumed: it works once the lock ends.
    assert_eq!(exchange(&emulator, &valid).await.status, 200);
    assert_eq!(emulator.issued_token_count(), 2);
    assert_eq!(emulator.token_requests(), 3 + 2 + 1 + 5 + 1);
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let emulator = start_with(EmulatorConfig {
        lockout_after_failures: 2,
        ..config()
    })
    .await;
    let forged = || sign_with(&rs256(), &claims(), &other_keys().signing);

    assert_refused(&exchange(&emulator, &forged()).await, "1.2.5", "first");
    token(&emulator).await;
    assert_refused(
        &exchange(&emulator, &forged()).await,
        "1.2.5",
        "after a success",
    );
    assert_refused(
        &exchange(&emulator, &forged()).await,
        "1.2.5",
        "second in a row",
    );
    assert_refused(
        &exchange(&emulator, &assertion(&claims())).await,
        "1.2.18",
        "locked",
    );
}

#[tokio::test]
async fn an_issued_token_expires_after_the_configured_ttl() {
    let emulator = start_with(EmulatorConfig {
        token_ttl: Duration::from_secs(2),
        ..config()
    })
    .await;
    let reply = exchange(&emulator, &assertion(&claims())).await;
    assert_eq!(reply.json()["expires_in"], 2);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        set_document(&emulator, "awaiting-1", &token).await.status,
        200
    );

    skip(Duration::from_secs(2)).await;

    let idcloud = set_document(&emulator, "awaiting-2", &token).await;
    assert_eq!(
        (idcloud.status, idcloud.body.as_str()),
        (401, "Jwt is expired")
    );
    let id_api = reuse_document(&emulator, &token).await;
    assert_eq!((id_api.status, id_api_code(&id_api)), (403, json!(10502)));
    // A new token works again.
    let renewed = self::token(&emulator).await;
    assert_eq!(
        set_document(&emulator, "awaiting-2", &renewed).await.status,
        200
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused_until_a_new_one_is_issued() {
    let emulator = start_with(config()).await;
    let token = token(&emulator).await;

    emulator.revoke_tokens();

    let idcloud = set_document(&emulator, "awaiting-1", &token).await;
    assert_eq!(
        (idcloud.status, idcloud.body.as_str()),
        (401, "Jwt header is an invalid JSON")
    );
    let id_api = reuse_document(&emulator, &token).await;
    assert_eq!((id_api.status, id_api_code(&id_api)), (403, json!(10501)));
    // The static tokens are not issued ones: they stay valid.
    assert_eq!(
        set_document(&emulator, "awaiting-1", "emulator-token")
            .await
            .status,
        200
    );
    let renewed = self::token(&emulator).await;
    assert_eq!(reuse_document(&emulator, &renewed).await.status, 200);
    assert_eq!(
        emulator.issued_token_count(),
        2,
        "revoking does not uncount"
    );

    // The admin API revokes as well.
    let revoked = send(client().delete(format!("{}/__emulator/tokens", emulator.base_url()))).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(reuse_document(&emulator, &renewed).await.status, 403);
}

#[tokio::test]
async fn requests_that_are_not_a_jwt_bearer_grant_answer_oauth_errors() {
    let emulator = start_with(config()).await;
    let text = assertion(&claims());
    let grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
    let cases = [
        (format!("assertion={text}"), "invalid_request"),
        (grant.to_owned(), "invalid_request"),
        (format!("{grant}&assertion="), "invalid_request"),
        (
            format!("{grant}&assertion={text}&assertion={text}"),
            "invalid_request",
        ),
        (
            format!("grant_type=client_credentials&assertion={text}"),
            "unsupported_grant_type",
        ),
    ];
    for (body, error) in cases {
        let reply = post_form(&emulator, body.clone()).await;
        assert_eq!(
            (reply.status, &reply.json()["error"]),
            (400, &json!(error)),
            "{body}"
        );
        assert!(reply.json()["error_description"].is_string());
    }
    let as_json = send(
        client()
            .post(format!("{}/oauth2/token", emulator.base_url()))
            .json(&json!({ "grant_type": GRANT_TYPE, "assertion": text })),
    )
    .await;
    assert_eq!(
        (as_json.status, &as_json.json()["error"]),
        (400, &json!("invalid_request"))
    );
    let get = send(client().get(format!("{}/oauth2/token", emulator.base_url()))).await;
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));

    // None of them consumed the assertion or counted against the account.
    assert_eq!(exchange(&emulator, &text).await.status, 200);
    assert_eq!(
        emulator.token_requests(),
        7,
        "the GET is not a token request"
    );
}

#[tokio::test]
async fn a_scripted_fault_answers_before_any_check() {
    let emulator = start_with(config()).await;
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::Token),
        times: 2,
        status: Some(503),
        body: Some("<html>busy</html>".into()),
        headers: vec![("content-type".into(), "text/html".into())],
        ..FaultScript::default()
    });
    let text = assertion(&claims());

    let first = exchange(&emulator, &text).await;
    let second = exchange(&emulator, &text).await;
    let third = exchange(&emulator, &text).await;

    for faulted in [&first, &second] {
        assert_eq!(
            (faulted.status, faulted.body.as_str()),
            (503, "<html>busy</html>")
        );
    }
    // The faulted calls never reached the checks: the same assertion is still unused.
    assert_eq!(third.status, 200);
    assert_eq!(emulator.token_requests(), 3);
    assert_eq!(emulator.issued_token_count(), 1);
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| r.endpoint == Some(EmulatedEndpoint::Token))
    );

    // Scripted through the admin API by name too.
    let scripted = send(
        client()
            .post(format!("{}/__emulator/faults", emulator.base_url()))
            .json(&json!({ "endpoint": "token", "status": 429 })),
    )
    .await;
    assert_eq!(scripted.status, 204);
    assert_eq!(exchange(&emulator, &assertion(&claims())).await.status, 429);
    // API endpoints are not affected by a token fault.
    emulator.script_fault(FaultScript {
        endpoint: Some(EmulatedEndpoint::Token),
        status: Some(500),
        ..FaultScript::default()
    });
    assert_eq!(
        set_document(&emulator, "awaiting-1", "emulator-token")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_unusable_service_account_stops_the_emulator_from_starting() {
    let private_pem = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
    let cases = [
        ServiceAccount {
            issuer: "facade-sa".into(),
            public_key_pem: keys().public_pem.clone(),
        },
        ServiceAccount {
            issuer: ISSUER.into(),
            public_key_pem: private_pem.into(),
        },
    ];
    for account in cases {
        let started = Emulator::start(EmulatorConfig {
            service_accounts: vec![account.clone()],
            ..EmulatorConfig::default()
        })
        .await;
        let error = started.expect_err("refused");
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidInput,
            "{account:?}"
        );
    }
}
