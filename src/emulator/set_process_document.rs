//! `POST /client/v1/process/{processId}/document` (IDCloud client API): sets the identity document
//! on a process awaiting one. Stateful: each emulator instance keeps its processes, so a second
//! call on the same process answers "document already set" as upstream does.
//!
//! Checks run in this order: the gateway's token check (it answers before the service), then
//! the fields in the order the page lists their errors: the process id (`process id is
//! invalid`), `duiType`, `duiValue`, then the process lookup (its state, or not found).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::auth::{self, Bearer, TokenVerdict, Tokens};
use super::fixtures;
use super::replies;

/// The `duiType` values this endpoint accepts (a subset of those accepted at process creation).
const DUI_TYPES: [&str; 3] = ["DUI_TYPE_BR_CPF", "DUI_TYPE_MX_CURP", "DUI_TYPE_US_SSN"];
/// The proto3 zero value of the enum: sent explicitly, it still means "no type".
const DUI_TYPE_UNSPECIFIED: &str = "DUI_TYPE_UNSPECIFIED";
const MAX_DUI_VALUE_CHARS: usize = 320;

/// 401 bodies, plain text as an API gateway's JWT filter writes them.
const JWT_INVALID: &str = "Jwt header is an invalid JSON";
const JWT_EXPIRED: &str = "Jwt is expired";
/// Not on the vendor's page: Envoy's `jwt_authn` message when no bearer token is found, the
/// gateway the page's other 401 messages come from.
const JWT_MISSING: &str = "Jwt is missing";

/// Every way the endpoint says no, besides the 401s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    ProcessIdInvalid,
    DuiTypeRequired,
    DuiTypeInvalid,
    DuiValueRequired,
    DuiValueTooLong,
    NotAwaitingDocument,
    Expired,
    DocumentAlreadySet,
    Finished,
    FlowRequiresDocument,
    NotFound,
    RateLimited,
    Internal,
}

impl Failure {
    /// The table of answers: HTTP status, code, message (verbatim from the page).
    fn reply(self) -> Response {
        let (status, code, message) = match self {
            Failure::ProcessIdInvalid => (StatusCode::BAD_REQUEST, 3, "process id is invalid"),
            Failure::DuiTypeRequired => (StatusCode::BAD_REQUEST, 3, "dui_type is required"),
            // Emulator assumption: the page lists no message for a type outside the accepted
            // subset; this one follows the style of its neighbours.
            Failure::DuiTypeInvalid => (StatusCode::BAD_REQUEST, 3, "dui_type is invalid"),
            Failure::DuiValueRequired => (StatusCode::BAD_REQUEST, 3, "dui_value is required"),
            Failure::DuiValueTooLong => (
                StatusCode::BAD_REQUEST,
                3,
                "dui_value exceeds maximum length",
            ),
            Failure::NotAwaitingDocument => (
                StatusCode::BAD_REQUEST,
                9,
                "process is not awaiting for document",
            ),
            Failure::Expired => (StatusCode::BAD_REQUEST, 9, "process expired"),
            Failure::DocumentAlreadySet => (
                StatusCode::BAD_REQUEST,
                9,
                "document already set, cannot be modified",
            ),
            Failure::Finished => (StatusCode::BAD_REQUEST, 9, "process already finished"),
            Failure::FlowRequiresDocument => (
                StatusCode::BAD_REQUEST,
                9,
                "flow does not allow optional document",
            ),
            Failure::NotFound => (
                StatusCode::NOT_FOUND,
                5,
                "error getting process: rpc error: code = NotFound desc = process not found",
            ),
            Failure::RateLimited => return replies::idcloud_rate_limited(),
            Failure::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                replies::INTERNAL_CODE,
                replies::INTERNAL_MESSAGE,
            ),
        };
        replies::idcloud_error(status, code, message)
    }
}

/// Answers one call. `process_id` is the decoded path parameter, `None` when it does not decode
/// to UTF-8.
pub(super) fn handle(
    processes: &ProcessStore,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    process_id: Option<&str>,
    body: &[u8],
) -> Response {
    if let Some(refused) = idcloud_gateway(tokens, headers) {
        return refused;
    }
    match set_document(processes, process_id, body) {
        Ok(person) => replies::json_reply(
            StatusCode::OK,
            &json!({
                "process": {
                    "id": process_id,
                    "person": { "duiType": person.dui_type, "duiValue": person.dui_value },
                }
            }),
        ),
        Err(failure) => failure.reply(),
    }
}

/// The IDCloud gateway's bearer check, shared by the client API's endpoints:
/// the 401 it answers, or `None` to go on.
pub(super) fn idcloud_gateway(tokens: Tokens<'_>, headers: &HeaderMap) -> Option<Response> {
    let token = match auth::bearer(headers) {
        Bearer::Token(token) => token,
        Bearer::Absent | Bearer::Malformed => {
            return Some(replies::idcloud_unauthorized(JWT_MISSING));
        }
    };
    match tokens.verify(token) {
        TokenVerdict::Valid => None,
        TokenVerdict::Expired => Some(replies::idcloud_unauthorized(JWT_EXPIRED)),
        TokenVerdict::Invalid => Some(replies::idcloud_unauthorized(JWT_INVALID)),
    }
}

fn set_document(
    processes: &ProcessStore,
    process_id: Option<&str>,
    body: &[u8],
) -> Result<Person, Failure> {
    let process_id = process_id
        .filter(|id| !id.trim().is_empty())
        .ok_or(Failure::ProcessIdInvalid)?;
    let person = Person::from_fields(&body_fields(body))?;
    processes.set_document(process_id)?;
    processes.record_document(process_id, &person.dui_type, &person.dui_value);
    Ok(person)
}

/// The body's fields. Emulator assumption: a body that is not a JSON object has none, so it is
/// answered as a body without `duiType` ("dui_type is required"). The page lists no message for
/// a malformed payload (a real grpc-gateway would word its parser's error), and this is the
/// closest documented one: nothing could be read, so the first required field is missing.
fn body_fields(body: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    }
}

#[derive(Debug)]
struct Person {
    dui_type: String,
    dui_value: String,
}

impl Person {
    fn from_fields(fields: &Map<String, Value>) -> Result<Person, Failure> {
        // grpc-gateway (protojson) accepts both the JSON name and the proto field name.
        let field = |json_name: &str, proto_name: &str| {
            fields
                .get(json_name)
                .or_else(|| fields.get(proto_name))
                .filter(|v| !v.is_null())
        };
        let dui_type = match field("duiType", "dui_type") {
            None => return Err(Failure::DuiTypeRequired),
            Some(Value::String(t)) if t.trim().is_empty() || t == DUI_TYPE_UNSPECIFIED => {
                return Err(Failure::DuiTypeRequired);
            }
            Some(Value::String(t)) if DUI_TYPES.contains(&t.as_str()) => t.clone(),
            // Emulator assumption: any other value, strings and non-strings alike, is invalid.
            Some(_) => return Err(Failure::DuiTypeInvalid),
        };
        let dui_value = match field("duiValue", "dui_value") {
            Some(Value::String(v)) if !v.trim().is_empty() => v.clone(),
            // Emulator assumption: a non-string value counts as no value.
            _ => return Err(Failure::DuiValueRequired),
        };
        if dui_value.chars().count() > MAX_DUI_VALUE_CHARS {
            return Err(Failure::DuiValueTooLong);
        }
        Ok(Person {
            dui_type,
            dui_value,
        })
    }
}

/// Where a process stands, as far as setting its document goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum ProcessState {
    #[serde(rename = "AWAITING_FOR_DOCUMENT")]
    AwaitingDocument,
    DocumentSet,
    Expired,
    Finished,
    NotAwaitingDocument,
    FlowRequiresDocument,
    /// Not a state upstream: the fixture that always answers 429.
    RateLimited,
    /// Not a state upstream: the fixture that always answers 500.
    InternalError,
}

/// The processes of one emulator instance, seeded from the fixtures.
#[derive(Debug)]
pub(super) struct ProcessStore {
    processes: Mutex<HashMap<String, ProcessState>>,
    /// The documents set, by process id (type, value), for the journey
    /// reads (`GET /client/v1/process/{id}`).
    documents: Mutex<HashMap<String, (String, String)>>,
}

impl ProcessStore {
    pub(super) fn seeded() -> Self {
        let processes = fixtures::PROCESSES
            .iter()
            .map(|fixture| (fixture.id.to_owned(), fixture.state))
            .collect();
        Self {
            processes: Mutex::new(processes),
            documents: Mutex::default(),
        }
    }

    /// A process a custom flow created without a document.
    pub(super) fn insert_awaiting(&self, process_id: &str) {
        self.lock()
            .insert(process_id.to_owned(), ProcessState::AwaitingDocument);
    }

    /// A process whose journey ended: no document can be set any more.
    pub(super) fn finish(&self, process_id: &str) {
        self.lock()
            .insert(process_id.to_owned(), ProcessState::Finished);
    }

    fn record_document(&self, process_id: &str, dui_type: &str, dui_value: &str) {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                process_id.to_owned(),
                (dui_type.to_owned(), dui_value.to_owned()),
            );
    }

    /// The document set on a process, if any.
    pub(super) fn document_of(&self, process_id: &str) -> Option<(String, String)> {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(process_id)
            .cloned()
    }

    /// Sets the document if the process awaits one; otherwise says why not.
    fn set_document(&self, process_id: &str) -> Result<(), Failure> {
        let mut processes = self.lock();
        let state = match processes.get(process_id) {
            Some(state) => *state,
            None if process_id.starts_with(fixtures::AWAITING_PREFIX) => {
                ProcessState::AwaitingDocument
            }
            None => return Err(Failure::NotFound),
        };
        match state {
            ProcessState::AwaitingDocument => {
                processes.insert(process_id.to_owned(), ProcessState::DocumentSet);
                Ok(())
            }
            ProcessState::DocumentSet => Err(Failure::DocumentAlreadySet),
            ProcessState::Expired => Err(Failure::Expired),
            ProcessState::Finished => Err(Failure::Finished),
            ProcessState::NotAwaitingDocument => Err(Failure::NotAwaitingDocument),
            ProcessState::FlowRequiresDocument => Err(Failure::FlowRequiresDocument),
            ProcessState::RateLimited => Err(Failure::RateLimited),
            ProcessState::InternalError => Err(Failure::Internal),
        }
    }

    /// Every known process and its state, sorted by id.
    pub(super) fn snapshot(&self) -> Vec<(String, ProcessState)> {
        let mut processes: Vec<_> = self
            .lock()
            .iter()
            .map(|(id, state)| (id.clone(), *state))
            .collect();
        processes.sort_by(|a, b| a.0.cmp(&b.0));
        processes
    }

    // A panic while holding the lock cannot leave the map half-updated, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ProcessState>> {
        self.processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
