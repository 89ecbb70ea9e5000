//! `POST /processes/v1`: header and body codes byte for byte, image checks, both flows.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Reply, client, send, start, start_with};
use crate::emulator::{Emulator, EmulatorConfig};

/// The page's messages for the codes exercised here, copied from `create-document-process.md`.
fn message(code: u32) -> &'static str {
    match code {
        99989 => "The document is invalid.",
        99988 => "The document is empty.",
        20900 => "O base64 informado não é válido.",
        20807 => {
            "A imagem precisa estar no padrão HD ou possuir uma resolução superior a 640 x 480."
        }
        20509 => "The subject.name field is invalid.",
        20508 => "The subject.gender field is invalid.",
        20507 => "O parâmetro subject.code é inválido.",
        20506 => "O base64 informado é muito grande. O tamanho máximo suportado é até 800kb.",
        20505 => "O base64 informado não é suportado. Os formatos aceitos são png, jpeg e webp.",
        20068 => "The document.documentId or document.files parameter must be present.",
        20067 => "The document.purpose parameter is invalid.",
        20066 => "The document.authProcessId parameter is invalid.",
        20062 => "The useCase field is invalid.",
        20021 => "The subject.phone field is invalid.",
        20019 => "The subject.birthDate field is invalid.",
        20009 => "O parâmetro imagebase64 não foi informado.",
        20008 => "The subject.email field is invalid.",
        20005 => "O parâmetro subject.code não foi informado.",
        20004 => "O parâmetro subject não foi informado.",
        20003 => "The request body is missing or invalid.",
        20002 => "O parâmetro APIKey não foi informado.",
        20001 => "O parâmetro authtoken não foi informado.",
        10508 => "The JWT with the captured face has already been used.",
        10507 => "The JWT with the captured face is expired.",
        10506 => "The imageBase64 field is not a valid JWT from SDK.",
        30017 => "User does not have permission to perform this action.",
        10502 => "O token informado está expirado.",
        10501 => "O token informado é inválido.",
        10201 => "O AppKey informado é inválido.",
        20073 => "The processID already exists.",
        99999 => "Internal failure! Try again later",
        _ => panic!("no message for {code} in this test"),
    }
}

/// The envelope the pages document for the ID API: a string code and a `description`.
fn described_error(code: u32) -> String {
    format!(
        r#"{{"error":{{"code":"{code}","description":"{}"}}}}"#,
        message(code)
    )
}

fn vendor_error(code: u32) -> String {
    format!(
        r#"{{"error":{{"code":{code},"message":"{}"}}}}"#,
        message(code)
    )
}

/// The first bytes of a PNG: enough for a format sniffer to read the size.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(b"IHDR");
    png.extend(width.to_be_bytes());
    png.extend(height.to_be_bytes());
    png.extend([8, 2, 0, 0, 0]);
    png.extend([0; 4]);
    png
}

fn image(width: u32, height: u32) -> String {
    STANDARD.encode(png(width, height))
}

fn capture_body() -> Value {
    json!({
        "subject": {
            "duiType": "DUI_TYPE_BR_CPF",
            "code": "12345678909",
            "name": "Luke Skywalker",
            "gender": "M",
            "birthDate": "2000-05-20",
            "email": "luke@rebellion.org",
            "phone": "5511987654321",
        },
        "document": {
            "purpose": "onboarding",
            "authProcessId": "auth-face-match",
            "files": [{ "data": image(1280, 720) }, { "data": image(1280, 720) }],
        }
    })
}

/// `body` with the field at JSON pointer `pointer` replaced, or removed when `value` is `None`.
fn with(mut body: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let parent = body
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent");
    match value {
        Some(value) => parent.insert(key.to_owned(), value),
        None => parent.remove(key),
    };
    body
}

type Headers<'a> = &'a [(&'a str, &'a str)];

async fn create(emulator: &Emulator, body: &Value) -> Reply {
    create_raw(
        emulator,
        &[
            ("authorization", "Bearer emulator-token"),
            ("APIKEY", "emulator-apikey"),
        ],
        body.to_string(),
    )
    .await
}

async fn create_raw(emulator: &Emulator, headers: Headers<'_>, body: String) -> Reply {
    let mut request = client()
        .post(format!("{}/processes/v1", emulator.base_url()))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

#[tokio::test]
async fn header_problems_answer_their_codes() {
    let emulator = start().await;
    let cases: [(Headers<'_>, u16, u32); 7] = [
        (&[], 400, 20001),
        (&[("APIKEY", "emulator-apikey")], 400, 20001),
        (&[("authorization", "Bearer emulator-token")], 400, 20002),
        (
            &[
                ("authorization", "Bearer nope"),
                ("APIKEY", "emulator-apikey"),
            ],
            403,
            10501,
        ),
        (
            &[
                ("authorization", "Bearer emulator-expired-token"),
                ("APIKEY", "emulator-apikey"),
            ],
            403,
            10502,
        ),
        (
            &[
                ("authorization", "Bearer emulator-token"),
                ("APIKEY", "nope"),
            ],
            403,
            10201,
        ),
        (
            &[
                ("authorization", "Bearer emulator-token"),
                ("apikey", "emulator-apikey-no-permission"),
            ],
            403,
            30017,
        ),
    ];
    for (headers, status, code) in cases {
        let reply = create_raw(&emulator, headers, capture_body().to_string()).await;
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            (reply.status, reply.body),
            (status, vendor_error(code)),
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn body_problems_answer_one_code_at_a_time() {
    let emulator = start().await;
    let body = capture_body;
    let cases = [
        (with(body(), "/document", None), 99988),
        (with(body(), "/document", Some(json!({}))), 99988),
        (with(body(), "/document", Some(json!("doc"))), 99989),
        (with(body(), "/subject", None), 20004),
        (with(body(), "/subject/code", None), 20005),
        (with(body(), "/subject/code", Some(json!(""))), 20005),
        (
            with(body(), "/subject/code", Some(json!("123.456.789-09"))),
            20507,
        ),
        (
            with(body(), "/subject/code", Some(json!("12345678900"))),
            20507,
        ),
        (
            with(body(), "/subject/duiType", Some(json!("DUI_TYPE_MX_CURP"))),
            20507,
        ),
        (
            with(body(), "/subject/duiType", Some(json!("DUI_TYPE_XX_OTHER"))),
            20507,
        ),
        (
            with(body(), "/subject/name", Some(json!("Ana\tMaria"))),
            20509,
        ),
        (with(body(), "/subject/name", Some(json!(7))), 20509),
        (with(body(), "/subject/gender", Some(json!("X"))), 20508),
        (
            with(body(), "/subject/birthDate", Some(json!("2000-02-30"))),
            20019,
        ),
        (
            with(body(), "/subject/birthDate", Some(json!("20-05-2000"))),
            20019,
        ),
        (with(body(), "/subject/email", Some(json!("luke"))), 20008),
        (
            with(body(), "/subject/phone", Some(json!("11987654321"))),
            20021,
        ),
        // "13 characters in all": the `+` is one too many.
        (
            with(body(), "/subject/phone", Some(json!("+5511987654321"))),
            20021,
        ),
        (with(body(), "/document/purpose", Some(json!("fun"))), 20067),
        (with(body(), "/document/purpose", None), 20067),
        (
            with(body(), "/document/authProcessId", Some(json!(""))),
            20066,
        ),
        (with(body(), "/document/files", None), 20068),
        (with(body(), "/document/files", Some(json!([]))), 20068),
        (with(body(), "/useCase", Some(json!("whatever"))), 20062),
        (with(body(), "/document/files", Some(json!([{}]))), 20009),
        (
            with(body(), "/document/files", Some(json!([{ "data": "" }]))),
            20009,
        ),
        (
            with(
                body(),
                "/document/files",
                Some(json!([{ "data": "@@not base64@@" }])),
            ),
            20900,
        ),
        (
            with(
                body(),
                "/document/files",
                Some(json!([{ "data": STANDARD.encode("hello") }])),
            ),
            20505,
        ),
        (
            with(
                body(),
                "/document/files",
                Some(json!([{ "data": STANDARD.encode(&png(1280, 720)[..12]) }])),
            ),
            20900,
        ),
        (
            with(
                body(),
                "/document/files",
                Some(json!([{ "data": image(640, 479) }])),
            ),
            20807,
        ),
        (
            with(
                body(),
                "/document/files",
                Some(json!([{ "data": image(320, 240) }])),
            ),
            20807,
        ),
        // The first failing check answers: the subject before the document's fields.
        (
            with(
                with(body(), "/subject/code", None),
                "/document/purpose",
                None,
            ),
            20005,
        ),
    ];
    for (body, code) in cases {
        let reply = create(&emulator, &body).await;
        assert_eq!(
            (reply.status, reply.body),
            (400, vendor_error(code)),
            "{body}"
        );
    }
    for raw in ["", "not json", "[]", "null"] {
        let headers = [
            ("authorization", "Bearer emulator-token"),
            ("APIKEY", "emulator-apikey"),
        ];
        let reply = create_raw(&emulator, &headers, raw.to_owned()).await;
        assert_eq!(
            (reply.status, reply.body),
            (400, vendor_error(20003)),
            "{raw:?}"
        );
    }
}

#[tokio::test]
async fn images_over_the_configured_size_are_refused() {
    let emulator = start_with(EmulatorConfig {
        max_image_bytes: 1024,
        ..EmulatorConfig::default()
    })
    .await;
    let mut large = png(1280, 720);
    large.resize(1025, 0);

    let reply = create(
        &emulator,
        &with(
            capture_body(),
            "/document/files",
            Some(json!([{ "data": STANDARD.encode(&large) }])),
        ),
    )
    .await;

    assert_eq!((reply.status, reply.body), (400, vendor_error(20506)));
}

#[tokio::test]
async fn a_new_capture_answers_the_subjects_document() {
    let emulator = start().await;

    let reply = create(&emulator, &capture_body()).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let process = reply.json();
    assert!(uuid::Uuid::parse_str(process["id"].as_str().unwrap_or_default()).is_ok());
    assert_eq!(process["status"], 3);
    let document = &process["document"];
    let document_id = document["id"].as_str().unwrap_or_default();
    assert!(document_id.starts_with("doc-"));
    assert_eq!(document["type"], "unico.moja.dictionary.br.cnh.v2.Cnh");
    assert_eq!(document["cpfMatch"], true);
    assert_eq!(document["faceMatch"], true);
    assert_eq!(document["content"]["cpfNumero"], "12345678909");
    assert_eq!(document["content"]["nomeCivil"], "Luke Skywalker");
    assert_eq!(
        document["content"]["dataNascimento"],
        "2000-05-20T00:00:00Z"
    );
    assert_eq!(document["content"]["categoria"], "B");
    assert_eq!(
        document["content"]["numero"].as_str().map(str::len),
        Some(11)
    );
    assert_eq!(
        document["fileUrls"],
        json!([
            format!("https://storage.emulator.invalid/documents/{document_id}/front.jpg"),
            format!("https://storage.emulator.invalid/documents/{document_id}/back.jpg"),
        ])
    );
    // Fields keep the page's order.
    assert!(reply.body.starts_with(r#"{"id":""#));
    assert!(reply.body.contains(r#""document":{"id":""#));
}

#[tokio::test]
async fn biometric_fixtures_decide_the_outcome() {
    let emulator = start().await;
    let capture = |auth: &str| with(capture_body(), "/document/authProcessId", Some(json!(auth)));

    let mismatch = create(&emulator, &capture("auth-face-mismatch"))
        .await
        .json();
    let unknown = create(&emulator, &capture("auth-unknown-type"))
        .await
        .json();
    let any = create(&emulator, &capture("80371b2a-3ac7-432e-866d-57fe37896ac6"))
        .await
        .json();

    assert_eq!(
        (
            mismatch["document"]["faceMatch"].clone(),
            mismatch["status"].clone()
        ),
        (json!(false), json!(3))
    );
    assert_eq!(unknown["status"], 7);
    assert_eq!(
        unknown["document"]["type"],
        "unico.moja.dictionary.br.future.v9.Future"
    );
    assert_eq!(any["document"]["faceMatch"], true);
    let refusals = [
        ("auth-jwt-expired", 400, described_error(10507)),
        ("auth-jwt-used", 400, described_error(10508)),
        ("auth-jwt-invalid", 400, described_error(10506)),
        ("auth-process-exists", 409, described_error(20073)),
        ("auth-internal-error", 500, vendor_error(99999)),
    ];
    for (auth, status, body) in refusals {
        let reply = create(&emulator, &capture(auth)).await;
        assert_eq!((reply.status, reply.body), (status, body), "{auth}");
    }
    let limited = create(&emulator, &capture("auth-rate-limited")).await;
    assert_eq!(
        (
            limited.status,
            limited.body.as_str(),
            limited.header("retry-after")
        ),
        (429, "", Some("2"))
    );
}

#[tokio::test]
async fn a_divergent_document_does_not_match_the_cpf() {
    let emulator = start().await;

    let reply = create(
        &emulator,
        &with(
            capture_body(),
            "/subject/name",
            Some(json!("Nome Divergente")),
        ),
    )
    .await;

    let process = reply.json();
    assert_eq!(process["status"], 5);
    assert_eq!(process["document"]["cpfMatch"], false);
    assert_ne!(process["document"]["content"]["cpfNumero"], "12345678909");
}

#[tokio::test]
async fn other_identifier_types_capture_without_a_cpf_match() {
    let emulator = start().await;
    let subject = json!({ "duiType": "DUI_TYPE_MX_CURP", "code": "GODE561231HDFRRN09" });

    let reply = create(&emulator, &with(capture_body(), "/subject", Some(subject))).await;

    let process = reply.json();
    assert_eq!(
        (
            process["status"].clone(),
            process["document"]["cpfMatch"].clone()
        ),
        (json!(3), json!(false))
    );
    assert!(
        process["document"]["content"].get("nomeCivil").is_none(),
        "no name, none read"
    );
}

#[tokio::test]
async fn the_same_subject_reuses_a_captured_document() {
    let emulator = start().await;
    let captured = create(&emulator, &capture_body()).await.json();
    let document_id = captured["document"]["id"].clone();
    let reuse = with(
        with(capture_body(), "/document/files", None),
        "/document/documentId",
        Some(document_id),
    );

    let reused = create(&emulator, &reuse).await.json();

    assert_eq!(reused["document"], captured["document"]);
    assert_ne!(reused["id"], captured["id"], "a new process");
    assert_eq!(emulator.requests().len(), 2);
}

#[tokio::test]
async fn the_seeded_document_is_reusable_by_its_owner_only() {
    let emulator = start().await;
    let reuse = |code: &str| {
        json!({
            "subject": { "duiType": "DUI_TYPE_BR_CPF", "code": code },
            "document": { "purpose": "fgts", "authProcessId": "auth-face-mismatch", "documentId": "doc-seeded-cnh" },
        })
    };

    let owner = create(&emulator, &reuse("52998224725")).await;
    let stranger = create(&emulator, &reuse("12345678909")).await;
    let unknown = create(
        &emulator,
        &with(
            reuse("52998224725"),
            "/document/documentId",
            Some(json!("doc-unknown")),
        ),
    )
    .await;

    assert_eq!(owner.status, 200, "{}", owner.body);
    let document = &owner.json()["document"];
    assert_eq!(document["id"], "doc-seeded-cnh");
    assert_eq!(document["faceMatch"], false);
    assert_eq!(document["cpfMatch"], true);
    assert_eq!(
        document["fileUrls"],
        json!(["https://storage.emulator.invalid/documents/doc-seeded-cnh/front.jpg"])
    );
    assert_eq!((stranger.status, stranger.body), (400, vendor_error(99989)));
    assert_eq!((unknown.status, unknown.body), (400, vendor_error(99989)));
}

#[tokio::test]
async fn a_huge_body_is_refused_without_being_processed() {
    let emulator = start().await;
    let huge = format!(r#"{{"pad":"{}"}}"#, "a".repeat(17 * 1024 * 1024));

    let outcome = client()
        .post(format!("{}/processes/v1", emulator.base_url()))
        .bearer_auth("emulator-token")
        .header("APIKEY", "emulator-apikey")
        .body(huge)
        .send()
        .await;

    // The answer is 413, unless the connection closes before the client reads it.
    if let Ok(response) = outcome {
        assert_eq!(response.status(), 413);
    }
    let [request] = emulator.requests().try_into().expect("recorded");
    assert!(request.body.is_empty());
}
