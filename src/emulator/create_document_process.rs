//! `POST /processes/v1` (ID API): creates a document process, either capturing new document
//! images (`document.files`) or reusing a document captured before (`document.documentId`).
//!
//! Checks run headers first, then the body field by field, and the first failure answers: the
//! vendor reports one code at a time. After the checks, the biometric process named by
//! `document.authProcessId` decides the outcome (see `fixtures.rs`).
//!
//! The emulator has no OCR: a captured document always "contains" the subject's own identifier,
//! name and birth date, except for the subject named `Nome Divergente`, whose document carries
//! another CPF (`cpfMatch: false`, status 5). Captured documents are kept per instance so they can
//! be reused by the same subject.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::EmulatorConfig;
use super::auth::{self, ApiKey, Bearer, TokenVerdict, Tokens};
use super::document_reads::DocumentProcesses;
use super::fixtures;
use super::replies;
use super::validation::{self, DUI_TYPE_BR_CPF, ImageProblem};

const PURPOSES: [&str; 5] = [
    "creditprocess",
    "carpurchase",
    "paybypaycheck",
    "onboarding",
    "fgts",
];

const DOCUMENT_TYPE_CNH: &str = "unico.moja.dictionary.br.cnh.v2.Cnh";
/// A type the page does not list, to exercise a client's handling of new values.
const DOCUMENT_TYPE_FUTURE: &str = "unico.moja.dictionary.br.future.v9.Future";

const STATUS_PROCESSING: u8 = 1;
const STATUS_SUCCESS: u8 = 3;
const STATUS_FAILURE: u8 = 5;
/// A status the page does not list, to exercise a client's handling of new values.
const STATUS_UNKNOWN: u8 = 7;

const FILE_URL_BASE: &str = "https://storage.emulator.invalid/documents";

/// What the biometric (selfie) process a capture is tied to does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Biometric {
    FaceMatch,
    FaceMismatch,
    /// Succeeds with a document type and status the page does not list.
    UnknownDocumentType,
    /// Answers status 1 (processing) without a document; reads of the
    /// process turn final (status 3 with the document) after a few reads.
    AsyncCapture,
    JwtExpired,
    JwtUsed,
    JwtInvalid,
    ProcessExists,
    RateLimited,
    InternalError,
}

/// Every way the endpoint says no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    DocumentInvalid,
    DocumentEmpty,
    Base64Invalid,
    ResolutionTooLow,
    NameInvalid,
    GenderInvalid,
    CodeInvalid,
    ImageTooLarge,
    ImageUnsupported,
    DocumentIdOrFilesMissing,
    PurposeInvalid,
    AuthProcessIdInvalid,
    UseCaseInvalid,
    PhoneInvalid,
    BirthDateInvalid,
    ImageMissing,
    EmailInvalid,
    CodeMissing,
    SubjectMissing,
    BodyInvalid,
    ApiKeyMissing,
    AuthTokenMissing,
    FaceJwtUsed,
    FaceJwtExpired,
    FaceJwtInvalid,
    NoPermission,
    TokenExpired,
    TokenInvalid,
    AppKeyInvalid,
    ProcessExists,
    Internal,
    RateLimited,
}

impl Failure {
    /// The table of answers: HTTP status, vendor code, message (verbatim from the page, in its
    /// order).
    fn reply(self) -> Response {
        use StatusCode as S;
        let (status, code, message) = match self {
            Failure::DocumentInvalid => (S::BAD_REQUEST, 99989, "The document is invalid."),
            Failure::DocumentEmpty => (S::BAD_REQUEST, 99988, "The document is empty."),
            Failure::Base64Invalid => (S::BAD_REQUEST, 20900, "O base64 informado não é válido."),
            Failure::ResolutionTooLow => (
                S::BAD_REQUEST,
                20807,
                "A imagem precisa estar no padrão HD ou possuir uma resolução superior a 640 x 480.",
            ),
            Failure::NameInvalid => (S::BAD_REQUEST, 20509, "The subject.name field is invalid."),
            Failure::GenderInvalid => (
                S::BAD_REQUEST,
                20508,
                "The subject.gender field is invalid.",
            ),
            Failure::CodeInvalid => (
                S::BAD_REQUEST,
                20507,
                "O parâmetro subject.code é inválido.",
            ),
            Failure::ImageTooLarge => (
                S::BAD_REQUEST,
                20506,
                "O base64 informado é muito grande. O tamanho máximo suportado é até 800kb.",
            ),
            Failure::ImageUnsupported => (
                S::BAD_REQUEST,
                20505,
                "O base64 informado não é suportado. Os formatos aceitos são png, jpeg e webp.",
            ),
            Failure::DocumentIdOrFilesMissing => (
                S::BAD_REQUEST,
                20068,
                "The document.documentId or document.files parameter must be present.",
            ),
            Failure::PurposeInvalid => (
                S::BAD_REQUEST,
                20067,
                "The document.purpose parameter is invalid.",
            ),
            Failure::AuthProcessIdInvalid => (
                S::BAD_REQUEST,
                20066,
                "The document.authProcessId parameter is invalid.",
            ),
            Failure::UseCaseInvalid => (S::BAD_REQUEST, 20062, "The useCase field is invalid."),
            Failure::PhoneInvalid => (S::BAD_REQUEST, 20021, "The subject.phone field is invalid."),
            Failure::BirthDateInvalid => (
                S::BAD_REQUEST,
                20019,
                "The subject.birthDate field is invalid.",
            ),
            Failure::ImageMissing => (
                S::BAD_REQUEST,
                20009,
                "O parâmetro imagebase64 não foi informado.",
            ),
            Failure::EmailInvalid => (S::BAD_REQUEST, 20008, "The subject.email field is invalid."),
            Failure::CodeMissing => (
                S::BAD_REQUEST,
                20005,
                "O parâmetro subject.code não foi informado.",
            ),
            Failure::SubjectMissing => (
                S::BAD_REQUEST,
                20004,
                "O parâmetro subject não foi informado.",
            ),
            Failure::BodyInvalid => (
                S::BAD_REQUEST,
                20003,
                "The request body is missing or invalid.",
            ),
            Failure::ApiKeyMissing => (
                S::BAD_REQUEST,
                20002,
                "O parâmetro APIKey não foi informado.",
            ),
            Failure::AuthTokenMissing => (
                S::BAD_REQUEST,
                20001,
                "O parâmetro authtoken não foi informado.",
            ),
            Failure::FaceJwtUsed => (
                S::BAD_REQUEST,
                10508,
                "The JWT with the captured face has already been used.",
            ),
            Failure::FaceJwtExpired => (
                S::BAD_REQUEST,
                10507,
                "The JWT with the captured face is expired.",
            ),
            Failure::FaceJwtInvalid => (
                S::BAD_REQUEST,
                10506,
                "The imageBase64 field is not a valid JWT from SDK.",
            ),
            Failure::NoPermission => (
                S::FORBIDDEN,
                30017,
                "User does not have permission to perform this action.",
            ),
            Failure::TokenExpired => (S::FORBIDDEN, 10502, "O token informado está expirado."),
            Failure::TokenInvalid => (S::FORBIDDEN, 10501, "O token informado é inválido."),
            Failure::AppKeyInvalid => (S::FORBIDDEN, 10201, "O AppKey informado é inválido."),
            Failure::ProcessExists => (S::CONFLICT, 20073, "The processID already exists."),
            Failure::Internal => (
                S::INTERNAL_SERVER_ERROR,
                replies::INTERNAL_CODE,
                replies::INTERNAL_MESSAGE,
            ),
            Failure::RateLimited => return replies::rate_limited(),
        };
        if self.in_described_envelope() {
            return replies::id_api_described_error(status, &code.to_string(), message);
        }
        replies::id_api_error(status, code, message)
    }

    /// The answers sent in the envelope the pages document for the ID API
    /// (`{"error":{"code":"10507","description":"…"}}`): the selfie-JWT and
    /// duplicate-process refusals, so that a client meets both envelopes on
    /// the endpoint (the others keep `{"error":{"code":N,"message":"…"}}`).
    fn in_described_envelope(self) -> bool {
        matches!(
            self,
            Failure::FaceJwtUsed
                | Failure::FaceJwtExpired
                | Failure::FaceJwtInvalid
                | Failure::ProcessExists
        )
    }
}

impl From<ImageProblem> for Failure {
    fn from(problem: ImageProblem) -> Self {
        match problem {
            ImageProblem::NotBase64 | ImageProblem::Undecodable => Failure::Base64Invalid,
            ImageProblem::TooLarge => Failure::ImageTooLarge,
            ImageProblem::Unsupported => Failure::ImageUnsupported,
            ImageProblem::TooSmall => Failure::ResolutionTooLow,
        }
    }
}

/// Answers one call, and keeps the process for `GET /processes/v1/{id}`.
pub(super) fn handle(
    documents: &DocumentStore,
    processes: &DocumentProcesses,
    config: &EmulatorConfig,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let outcome = check_credentials(headers, config, tokens)
        .and_then(|()| CaptureRequest::parse(body, config.max_image_bytes))
        .and_then(|request| create(documents, &request));
    match outcome {
        Ok((document, face_match, asynchronous)) => {
            let id = Uuid::new_v4().to_string();
            let finished = serialised(&ProcessReply {
                id: id.clone(),
                status: document.status,
                document: document.reply(face_match),
            });
            if asynchronous {
                let processing = serialised(&json!({"id": id, "status": STATUS_PROCESSING}));
                processes.insert_pending(&id, processing.clone(), finished);
                replies::json_bytes(StatusCode::OK, processing)
            } else {
                processes.insert(&id, finished.clone());
                replies::json_bytes(StatusCode::OK, finished)
            }
        }
        Err(failure) => failure.reply(),
    }
}

/// An answer as the bytes sent (and kept): the emulator's own types always
/// serialise.
fn serialised(body: &impl Serialize) -> bytes::Bytes {
    serde_json::to_vec(body).map_or_else(|_| bytes::Bytes::new(), bytes::Bytes::from)
}

/// The ID API's credential checks, for the other ID API endpoints: the
/// failure as the answer to send.
pub(super) fn id_api_credentials(
    headers: &HeaderMap,
    config: &EmulatorConfig,
    tokens: Tokens<'_>,
) -> Option<Response> {
    check_credentials(headers, config, tokens)
        .err()
        .map(Failure::reply)
}

/// Missing headers first (20001, 20002), then what the token and the key are worth.
fn check_credentials(
    headers: &HeaderMap,
    config: &EmulatorConfig,
    tokens: Tokens<'_>,
) -> Result<(), Failure> {
    let bearer = auth::bearer(headers);
    if bearer == Bearer::Absent {
        return Err(Failure::AuthTokenMissing);
    }
    let api_key = auth::api_key(headers, &config.accepted_api_keys);
    if api_key == ApiKey::Absent {
        return Err(Failure::ApiKeyMissing);
    }
    let verdict = match bearer {
        Bearer::Token(token) => tokens.verify(token),
        Bearer::Absent | Bearer::Malformed => TokenVerdict::Invalid,
    };
    match verdict {
        TokenVerdict::Valid => {}
        TokenVerdict::Expired => return Err(Failure::TokenExpired),
        TokenVerdict::Invalid => return Err(Failure::TokenInvalid),
    }
    match api_key {
        ApiKey::Accepted => Ok(()),
        ApiKey::NoPermission => Err(Failure::NoPermission),
        ApiKey::Unknown => Err(Failure::AppKeyInvalid),
        ApiKey::Absent => Err(Failure::ApiKeyMissing),
    }
}

/// The person a document belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    dui_type: String,
    code: String,
}

/// Where the document comes from.
#[derive(Debug)]
enum Source {
    Reuse { document_id: String },
    Capture { files: usize },
}

/// A request that passed every check.
#[derive(Debug)]
struct CaptureRequest {
    owner: Owner,
    name: Option<String>,
    birth_date: Option<String>,
    auth_process_id: String,
    source: Source,
}

impl CaptureRequest {
    fn parse(body: &[u8], max_image_bytes: usize) -> Result<CaptureRequest, Failure> {
        let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::BodyInvalid);
        };
        let document = match root.get("document") {
            None | Some(Value::Null) => return Err(Failure::DocumentEmpty),
            // Emulator assumption: `{}` is as empty as no document at all.
            Some(Value::Object(document)) if document.is_empty() => {
                return Err(Failure::DocumentEmpty);
            }
            Some(Value::Object(document)) => document,
            Some(_) => return Err(Failure::DocumentInvalid),
        };
        // Emulator assumption: a `subject` that is not an object is as good as none.
        let Some(Value::Object(subject)) = root.get("subject") else {
            return Err(Failure::SubjectMissing);
        };
        let owner = Owner::parse(subject)?;
        // Optional fields: absent or null is fine; a string is judged by the page's rule for it.
        let name = optional_text(
            subject,
            "name",
            Failure::NameInvalid,
            validation::is_valid_name,
        )?;
        optional_text(
            subject,
            "gender",
            Failure::GenderInvalid,
            validation::is_valid_gender,
        )?;
        let birth_date = optional_text(
            subject,
            "birthDate",
            Failure::BirthDateInvalid,
            validation::is_valid_birth_date,
        )?;
        optional_text(
            subject,
            "email",
            Failure::EmailInvalid,
            validation::is_plausible_email,
        )?;
        optional_text(
            subject,
            "phone",
            Failure::PhoneInvalid,
            validation::is_valid_phone,
        )?;

        if !required_text(document, "purpose").is_some_and(|p| PURPOSES.contains(&p)) {
            return Err(Failure::PurposeInvalid);
        }
        let auth_process_id =
            required_text(document, "authProcessId").ok_or(Failure::AuthProcessIdInvalid)?;
        let document_id = match document.get("documentId") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if id.trim().is_empty() => None,
            Some(Value::String(id)) => Some(id),
            Some(_) => return Err(Failure::DocumentInvalid),
        };
        let files = match document.get("files") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(files)) => files.as_slice(),
            Some(_) => return Err(Failure::DocumentInvalid),
        };
        if document_id.is_none() && files.is_empty() {
            return Err(Failure::DocumentIdOrFilesMissing);
        }
        // The page documents no `useCase` values (the API key selects the use case), so any
        // value is unrecognised.
        if root.get("useCase").is_some_and(|u| !u.is_null()) {
            return Err(Failure::UseCaseInvalid);
        }
        let source = match document_id {
            // The flow is chosen by `documentId`: with it, `files` are not looked at.
            Some(id) => Source::Reuse {
                document_id: id.clone(),
            },
            None => {
                for file in files {
                    check_file(file, max_image_bytes)?;
                }
                Source::Capture { files: files.len() }
            }
        };
        Ok(CaptureRequest {
            owner,
            name: name.map(str::to_owned),
            birth_date: birth_date.map(str::to_owned),
            auth_process_id: auth_process_id.to_owned(),
            source,
        })
    }
}

impl Owner {
    fn parse(subject: &Map<String, Value>) -> Result<Owner, Failure> {
        let code = match subject.get("code") {
            None | Some(Value::Null) => return Err(Failure::CodeMissing),
            Some(Value::String(code)) if code.is_empty() => return Err(Failure::CodeMissing),
            Some(Value::String(code)) => code,
            Some(_) => return Err(Failure::CodeInvalid),
        };
        // Emulator assumption: the page has no code for a missing `duiType`; the ID API began as
        // CPF-only, so a code without a type is read as a CPF. An unknown type makes every code
        // "non-standard" (20507).
        let dui_type = match subject.get("duiType") {
            None | Some(Value::Null) => DUI_TYPE_BR_CPF,
            Some(Value::String(dui_type)) => dui_type.as_str(),
            Some(_) => return Err(Failure::CodeInvalid),
        };
        if !validation::is_valid_code(dui_type, code) {
            return Err(Failure::CodeInvalid);
        }
        Ok(Owner {
            dui_type: dui_type.to_owned(),
            code: code.clone(),
        })
    }
}

/// A non-blank string field.
fn required_text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match object.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text),
        _ => None,
    }
}

/// An optional string field: absent or null is `None`; a non-string or a string failing
/// `is_valid` is `failure`.
fn optional_text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    failure: Failure,
    is_valid: impl Fn(&str) -> bool,
) -> Result<Option<&'a str>, Failure> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if is_valid(text) => Ok(Some(text)),
        Some(_) => Err(failure),
    }
}

fn check_file(file: &Value, max_image_bytes: usize) -> Result<(), Failure> {
    let data = match file.get("data") {
        Some(Value::String(data)) if !data.is_empty() => data,
        Some(Value::String(_) | Value::Null) | None => return Err(Failure::ImageMissing),
        Some(_) => return Err(Failure::Base64Invalid),
    };
    validation::inspect_image(data, max_image_bytes).map_err(Failure::from)
}

/// Runs the checked request against the biometric fixture and the document store: the document
/// of the new process, and whether its face matches the selfie.
fn create(
    documents: &DocumentStore,
    request: &CaptureRequest,
) -> Result<(StoredDocument, bool, bool), Failure> {
    let biometric = fixtures::biometric(&request.auth_process_id);
    let face_match = match biometric {
        Biometric::FaceMatch | Biometric::UnknownDocumentType | Biometric::AsyncCapture => true,
        Biometric::FaceMismatch => false,
        Biometric::JwtExpired => return Err(Failure::FaceJwtExpired),
        Biometric::JwtUsed => return Err(Failure::FaceJwtUsed),
        Biometric::JwtInvalid => return Err(Failure::FaceJwtInvalid),
        Biometric::ProcessExists => return Err(Failure::ProcessExists),
        Biometric::RateLimited => return Err(Failure::RateLimited),
        Biometric::InternalError => return Err(Failure::Internal),
    };
    let document = match &request.source {
        // Emulator assumption: the page has no code for an unknown document id or one of
        // another person; 99989 ("the document object is invalid") is the closest.
        Source::Reuse { document_id } => documents
            .get(document_id)
            .filter(|document| document.owner == request.owner)
            .ok_or(Failure::DocumentInvalid)?,
        Source::Capture { files } => {
            let document = StoredDocument::capture(
                format!("doc-{}", Uuid::new_v4()),
                &request.owner,
                request.name.as_deref(),
                request.birth_date.as_deref(),
                *files,
                biometric == Biometric::UnknownDocumentType,
            );
            documents.insert(document.clone());
            document
        }
    };
    Ok((document, face_match, biometric == Biometric::AsyncCapture))
}

/// The `type` word of `GET /documents/v1` for a registry name.
fn type_word_of(document_type: &str) -> Option<&'static str> {
    match document_type {
        "unico.moja.dictionary.br.rg.v2.Rg" => Some("BR_RG"),
        DOCUMENT_TYPE_CNH => Some("BR_CNH"),
        "unico.moja.dictionary.br.cin.v1.Cin" => Some("BR_CIN"),
        "unico.moja.dictionary.br.passaporte.v1.Passaporte" => Some("BR_PASSPORT"),
        _ => None,
    }
}

/// The 200 answer, fields in the page's order.
#[derive(Debug, Serialize)]
struct ProcessReply<'a> {
    id: String,
    status: u8,
    document: DocumentReply<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DocumentReply<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    document_type: &'a str,
    cpf_match: bool,
    face_match: bool,
    content: &'a CnhContent,
    file_urls: &'a [String],
}

/// What the emulated OCR reads off a CNH; fields it has no value for are omitted, as upstream
/// omits fields it could not read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CnhContent {
    numero: String,
    cpf_numero: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nome_civil: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_nascimento: Option<String>,
    categoria: &'static str,
    filiacao: [&'static str; 2],
}

/// A captured document, as later reuse finds it.
#[derive(Debug, Clone)]
struct StoredDocument {
    id: String,
    owner: Owner,
    status: u8,
    document_type: &'static str,
    cpf_match: bool,
    content: CnhContent,
    file_urls: Vec<String>,
}

impl StoredDocument {
    /// The emulated capture: a CNH that shows the owner's data (see the module comment).
    fn capture(
        id: String,
        owner: &Owner,
        name: Option<&str>,
        birth_date: Option<&str>,
        files: usize,
        unknown_type: bool,
    ) -> StoredDocument {
        let divergent = name == Some(fixtures::DIVERGENT_NAME);
        let cpf_read = if divergent {
            another_cpf(&owner.code)
        } else {
            owner.code.as_str()
        };
        let content = CnhContent {
            numero: license_number(&owner.code),
            cpf_numero: cpf_read.to_owned(),
            nome_civil: name.map(str::to_owned),
            data_nascimento: birth_date.map(|date| format!("{date}T00:00:00Z")),
            categoria: "B",
            filiacao: ["Ana Emulada da Silva", "João Emulado da Silva"],
        };
        let file_urls = (0..files)
            .map(|i| {
                let side = match i {
                    0 => "front".to_owned(),
                    1 => "back".to_owned(),
                    n => format!("page-{}", n + 1),
                };
                format!("{FILE_URL_BASE}/{id}/{side}.jpg")
            })
            .collect();
        StoredDocument {
            owner: owner.clone(),
            status: if unknown_type {
                STATUS_UNKNOWN
            } else if divergent {
                STATUS_FAILURE
            } else {
                STATUS_SUCCESS
            },
            document_type: if unknown_type {
                DOCUMENT_TYPE_FUTURE
            } else {
                DOCUMENT_TYPE_CNH
            },
            cpf_match: !divergent
                && owner.dui_type == DUI_TYPE_BR_CPF
                && validation::is_valid_cpf(&owner.code),
            content,
            file_urls,
            id,
        }
    }

    fn reply(&self, face_match: bool) -> DocumentReply<'_> {
        DocumentReply {
            id: &self.id,
            document_type: self.document_type,
            cpf_match: self.cpf_match,
            face_match,
            content: &self.content,
            file_urls: &self.file_urls,
        }
    }
}

/// A CNH registration number (11 digits) derived from the owner's identifier, so that it is
/// stable across calls.
fn license_number(code: &str) -> String {
    let digits: Vec<char> = code
        .chars()
        .rev()
        .map(|c| char::from(b'0' + (c.to_digit(36).unwrap_or(0) % 10) as u8))
        .collect();
    if digits.is_empty() {
        return "0".repeat(11);
    }
    digits.iter().cycle().take(11).collect()
}

/// A valid CPF other than `code`, for the document that does not match its subject.
fn another_cpf(code: &str) -> &'static str {
    const OTHER_CPFS: [&str; 2] = ["11144477735", "52998224725"];
    if code == OTHER_CPFS[0] {
        OTHER_CPFS[1]
    } else {
        OTHER_CPFS[0]
    }
}

/// The captured documents of one emulator instance, seeded with one reusable CNH.
#[derive(Debug)]
pub(super) struct DocumentStore {
    documents: Mutex<HashMap<String, StoredDocument>>,
}

impl DocumentStore {
    pub(super) fn seeded() -> Self {
        let seeded = StoredDocument::capture(
            fixtures::SEEDED_DOCUMENT_ID.to_owned(),
            &Owner {
                dui_type: DUI_TYPE_BR_CPF.to_owned(),
                code: fixtures::SEEDED_DOCUMENT_CPF.to_owned(),
            },
            Some("Maria Emulada da Silva"),
            Some("1990-01-01"),
            1,
            false,
        );
        Self {
            documents: Mutex::new(HashMap::from([(seeded.id.clone(), seeded)])),
        }
    }

    fn get(&self, id: &str) -> Option<StoredDocument> {
        self.lock().get(id).cloned()
    }

    fn insert(&self, document: StoredDocument) {
        self.lock().insert(document.id.clone(), document);
    }

    /// The documents of the person with `code` whose type is `type_word`
    /// (`BR_CNH`, …), sorted by id; `None` when the person has none at all.
    pub(super) fn reusable(
        &self,
        code: &str,
        type_word: &str,
    ) -> Option<Vec<(String, &'static str)>> {
        let documents = self.lock();
        let owned: Vec<_> = documents
            .values()
            .filter(|d| d.owner.code == code)
            .collect();
        if owned.is_empty() {
            return None;
        }
        let mut matching: Vec<_> = owned
            .into_iter()
            .filter(|d| type_word_of(d.document_type) == Some(type_word))
            .map(|d| (d.id.clone(), d.document_type))
            .collect();
        matching.sort();
        Some(matching)
    }

    /// One line per stored document (id, type, owner), sorted by id, for the admin API.
    pub(super) fn summaries(&self) -> Vec<Value> {
        let mut documents: Vec<_> = self.lock().values().cloned().collect();
        documents.sort_by(|a, b| a.id.cmp(&b.id));
        documents
            .into_iter()
            .map(|d| {
                json!({
                    "documentId": d.id,
                    "type": d.document_type,
                    "duiType": d.owner.dui_type,
                    "code": d.owner.code,
                })
            })
            .collect()
    }

    // A panic while holding the lock cannot leave the map half-updated, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, StoredDocument>> {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
