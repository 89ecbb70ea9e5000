//! The IDCloud journey endpoints (`shared/upstream/idcloud-process.md`, less
//! complete than the reference pages; every assumption is marked):
//! - `POST /client/v1/process`: creates a process, kept per instance. A
//!   custom flow (a name outside the page's list) without `person.duiType`
//!   creates one in `AWAITING_FOR_DOCUMENT`, registered with
//!   set-process-document's store so that SetProcessDocument fills it.
//! - `GET /client/v1/process/{processId}`: the kept process; once its
//!   document is set it reads `PROCESS_STATE_CREATED` with the person's
//!   document; once finished through the admin API, `PROCESS_STATE_FINISHED`
//!   with its result and `finishedAt`.
//!
//! Both check the gateway's bearer token first, as set-process-document does.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::auth::Tokens;
use super::fixtures;
use super::replies;
use super::set_process_document::{ProcessStore, idcloud_gateway};

/// The flows the page lists; any other name is a tenant's custom flow.
const KNOWN_FLOWS: [&str; 17] = [
    "idlive",
    "id",
    "idlivetrust",
    "idcheck",
    "iddocs",
    "idsign",
    "iddocssign",
    "idunicodocs",
    "idunicosign",
    "idunicodocssign",
    "idtoken",
    "idtokentrust",
    "idtokensign",
    "idsmart",
    "idage",
    "idagedocumentless",
    "creditoconsignado",
];
const PURPOSES: [&str; 4] = [
    "creditprocess",
    "biometryonboarding",
    "carpurchase",
    "ageverification",
];
const EMAIL_CHANNEL: &str = "NOTIFICATION_CHANNEL_EMAIL";
const PHONE_CHANNELS: [&str; 2] = ["NOTIFICATION_CHANNEL_WHATSAPP", "NOTIFICATION_CHANNEL_SMS"];
const AWAITING: &str = "AWAITING_FOR_DOCUMENT";
const CREATED: &str = "PROCESS_STATE_CREATED";

/// Every way the endpoints say no, besides the gateway's 401s.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    Invalid(String),
    ApiKeysNotSet,
    NoPermission,
    ProcessIdInvalid,
    NotFound,
    Internal,
}

impl Failure {
    fn invalid(message: &str) -> Self {
        Failure::Invalid(message.to_owned())
    }

    fn reply(self) -> Response {
        match self {
            Failure::Invalid(message) => {
                replies::idcloud_error(StatusCode::BAD_REQUEST, 3, &message)
            }
            Failure::ApiKeysNotSet => {
                replies::idcloud_error(StatusCode::BAD_REQUEST, 9, "XX ID Apikeys are not set")
            }
            // Emulator assumption: HTTP 403, as the read's `no permission` row.
            Failure::NoPermission => {
                replies::idcloud_error(StatusCode::FORBIDDEN, 7, "no permission")
            }
            Failure::ProcessIdInvalid => {
                replies::idcloud_error(StatusCode::BAD_REQUEST, 3, "process id is invalid")
            }
            Failure::NotFound => replies::idcloud_error(
                StatusCode::NOT_FOUND,
                5,
                "error getting process: rpc error: code = NotFound desc = process not found",
            ),
            Failure::Internal => replies::idcloud_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                replies::INTERNAL_CODE,
                replies::INTERNAL_MESSAGE,
            ),
        }
    }
}

/// How a journey ends, as the admin API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JourneyEnd {
    Ok,
    InvalidIdentity,
    Expired,
    Error,
}

impl JourneyEnd {
    fn result(self) -> &'static str {
        match self {
            JourneyEnd::Ok => "PROCESS_RESULT_OK",
            JourneyEnd::InvalidIdentity => "PROCESS_RESULT_INVALID_IDENTITY",
            JourneyEnd::Expired => "PROCESS_RESULT_EXPIRED",
            JourneyEnd::Error => "PROCESS_RESULT_ERROR",
        }
    }

    /// The webhook's `result` word. Emulator assumption: `error`, which the
    /// page's list (`ok`, `expired`, `invalid_identity`) does not name.
    pub(super) fn webhook_word(self) -> &'static str {
        match self {
            JourneyEnd::Ok => "ok",
            JourneyEnd::InvalidIdentity => "invalid_identity",
            JourneyEnd::Expired => "expired",
            JourneyEnd::Error => "error",
        }
    }
}

/// The journeys created in this instance: each one's `process` object.
#[derive(Debug, Default)]
pub(super) struct Journeys {
    records: Mutex<HashMap<String, Map<String, Value>>>,
}

impl Journeys {
    /// Ends a journey: FINISHED with its result. Returns its flow, or `None`
    /// for an unknown id.
    pub(super) fn finish(
        &self,
        processes: &ProcessStore,
        id: &str,
        end: JourneyEnd,
    ) -> Option<String> {
        let mut records = self.lock();
        let record = records.get_mut(id)?;
        record.insert("state".into(), json!("PROCESS_STATE_FINISHED"));
        record.insert("result".into(), json!(end.result()));
        record.insert("finishedAt".into(), json!(rfc3339_now()));
        processes.finish(id);
        Some(record["flow"].as_str().unwrap_or_default().to_owned())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Map<String, Value>>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `POST /client/v1/process`.
pub(super) fn create(
    journeys: &Journeys,
    processes: &ProcessStore,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Some(refused) = idcloud_gateway(tokens, headers) {
        return refused;
    }
    // Emulator assumption: a body that is not a JSON object has no fields.
    let fields = match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    match created(&fields) {
        Ok(process) => {
            let id = process["id"].as_str().unwrap_or_default().to_owned();
            if process["state"] == AWAITING {
                processes.insert_awaiting(&id);
            }
            journeys.lock().insert(id, process.clone());
            replies::json_reply(StatusCode::OK, &json!({ "process": process }))
        }
        Err(failure) => failure.reply(),
    }
}

fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> &'a str {
    fields.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The checks in the order of the page's error table, then the process.
fn created(fields: &Map<String, Value>) -> Result<Map<String, Value>, Failure> {
    let flow = text(fields, "flow");
    match flow {
        fixtures::FLOW_APIKEYS_NOT_SET => return Err(Failure::ApiKeysNotSet),
        fixtures::FLOW_NO_PERMISSION => return Err(Failure::NoPermission),
        fixtures::FLOW_INTERNAL_ERROR => return Err(Failure::Internal),
        _ => {}
    }
    // The page's set of flows is open (tenants have custom flows, e.g.
    // `idunicodocs_r2`) and it gives no rule for their names, so any
    // non-empty flow is accepted; only a missing one is `invalid flow`.
    if flow.trim().is_empty() {
        return Err(Failure::invalid("invalid flow"));
    }
    let custom = !KNOWN_FLOWS.contains(&flow);
    if !PURPOSES.contains(&text(fields, "purpose")) {
        return Err(Failure::invalid("invalid purpose"));
    }
    let empty = Map::new();
    let person = fields
        .get("person")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if text(person, "friendlyName").chars().count() > 50 {
        return Err(Failure::invalid(
            "invalid person: friendly name exceeds 50 characters.",
        ));
    }
    let callback = text(fields, "callbackUri");
    // Emulator assumption: `/`, or anything with a scheme, parses.
    if callback != "/" && !callback.contains(':') {
        return Err(Failure::Invalid(format!(
            "invalid callbackUri: unable to parse callbackUri: parse \"{callback}\": {}",
            if callback.is_empty() {
                "empty url"
            } else {
                "invalid URI for request"
            }
        )));
    }
    let channels: Vec<&str> = person
        .get("notifications")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("notificationChannel").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if channels.contains(&EMAIL_CHANNEL) && text(person, "email").is_empty() {
        return Err(Failure::invalid(
            "invalid person: email required for notification channel NOTIFICATION_CHANNEL_EMAIL, email is empty",
        ));
    }
    let phone = text(person, "phone");
    if let Some(channel) = channels.iter().find(|c| PHONE_CHANNELS.contains(c))
        && (phone.len() != 13 || !phone.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Failure::Invalid(format!(
            "invalid person: phone number required for notification channel {channel}, phone number does not contain 13 chars"
        )));
    }
    let dui_type = text(person, "duiType");
    let dui_value = text(person, "duiValue");
    // Emulator assumption: a CPF must be 11 digits; other types non-empty.
    let valid_value = match dui_type {
        "" => true,
        "DUI_TYPE_BR_CPF" => dui_value.len() == 11 && dui_value.bytes().all(|b| b.is_ascii_digit()),
        _ => !dui_value.is_empty(),
    };
    if !valid_value {
        return Err(Failure::invalid(
            "idnsv2/GetPublicID request error: rpc error: code = InvalidArgument desc = invalid dui value",
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    // Emulator assumption: a known flow without a document is still created.
    let state = if custom && dui_type.is_empty() {
        AWAITING
    } else {
        CREATED
    };
    let mut process = Map::new();
    process.insert("id".into(), json!(id));
    process.insert("flow".into(), json!(flow));
    process.insert("purpose".into(), json!(text(fields, "purpose")));
    process.insert("callbackUri".into(), json!(callback));
    process.insert(
        "userRedirectUrl".into(),
        json!(format!("https://cadastro.emulator.invalid/process/{id}")),
    );
    process.insert("state".into(), json!(state));
    process.insert("result".into(), json!("PROCESS_RESULT_UNSPECIFIED"));
    process.insert("createdAt".into(), json!(rfc3339_now()));
    process.insert("token".into(), json!(format!("emu-sdk-{id}")));
    for key in ["clientReference", "useCase"] {
        if let Some(value) = fields.get(key) {
            process.insert(key.into(), value.clone());
        }
    }
    process.insert("person".into(), Value::Object(person.clone()));
    process.insert(
        "companyData".into(),
        json!({"branchId": text(fields, "companyBranchId"), "countryCode": "BR"}),
    );
    // A field no contract models, so that clients can see it kept.
    process.insert("services".into(), json!({"documents": []}));
    Ok(process)
}

/// `GET /client/v1/process/{processId}`; `id` is `None` when not UTF-8.
pub(super) fn get(
    journeys: &Journeys,
    processes: &ProcessStore,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Response {
    if let Some(refused) = idcloud_gateway(tokens, headers) {
        return refused;
    }
    let Some(id) = id.filter(|id| !id.trim().is_empty()) else {
        return Failure::ProcessIdInvalid.reply();
    };
    let mut records = journeys.lock();
    let Some(record) = records.get_mut(id) else {
        return Failure::NotFound.reply();
    };
    if record["state"] == AWAITING
        && let Some((dui_type, dui_value)) = processes.document_of(id)
    {
        record.insert("state".into(), json!(CREATED));
        let person = record
            .entry("person")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(person) = person {
            person.insert("duiType".into(), json!(dui_type));
            person.insert("duiValue".into(), json!(dui_value));
        }
    }
    replies::json_reply(StatusCode::OK, &json!({ "process": record }))
}

/// Now, as RFC 3339 in UTC with seconds.
fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_fields(value: Value) -> Result<Map<String, Value>, Failure> {
        created(value.as_object().unwrap())
    }

    #[test]
    fn the_pages_messages_are_answered() {
        let base =
            json!({"flow": "idunicodocs_r2", "purpose": "creditprocess", "callbackUri": "/"});
        assert_eq!(create_fields(base.clone()).unwrap()["state"], AWAITING);
        let with = |key: &str, value: Value| {
            let mut v = base.clone();
            v[key] = value;
            create_fields(v)
        };
        assert_eq!(
            with("flow", json!("")),
            Err(Failure::invalid("invalid flow"))
        );
        // No rule for a custom flow's name: any other flow is created.
        assert_eq!(
            with("flow", json!("Tenant Flow 2")).unwrap()["state"],
            AWAITING
        );
        assert_eq!(
            with("purpose", json!("x")),
            Err(Failure::invalid("invalid purpose"))
        );
        let Err(Failure::Invalid(m)) = with("callbackUri", json!("")) else {
            panic!()
        };
        assert!(m.starts_with(
            "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url"
        ));
        let Err(Failure::Invalid(m)) = with(
            "person",
            json!({"notifications": [{"notificationChannel": "NOTIFICATION_CHANNEL_WHATSAPP"}]}),
        ) else {
            panic!()
        };
        assert!(m.starts_with("invalid person: phone number required for notification channel NOTIFICATION_CHANNEL_WHATSAPP"));
        assert_eq!(
            with(
                "person",
                json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "1"})
            )
            .unwrap_err(),
            Failure::invalid(
                "idnsv2/GetPublicID request error: rpc error: code = InvalidArgument desc = invalid dui value"
            )
        );
        let created = with(
            "person",
            json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "52998224725"}),
        )
        .unwrap();
        assert_eq!(created["state"], CREATED);
    }
}
