//! `POST /client/v1/process` and `GET /client/v1/process/{processId}` on the
//! IDCloud client API: a hosted journey created and read again
//! (`shared/upstream/idcloud-process.md`). The answer's schema is not
//! published, so the reading is tolerant: each known field is taken when it
//! has the expected JSON type, and everything else (unknown fields, or known
//! ones of an unexpected type) is kept in `unmodelled`, never dropped. Only
//! an answer without `process.id` is malformed.

use std::{fmt, time::Duration};

use serde_json::{Map, Value, json};

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::{encode_segment, endpoint_url},
};
use crate::domain::{Personal, ProcessId};

/// A validated create-process call. Empty strings are not sent.
#[derive(Debug, Clone, Default)]
pub struct CreateProcess {
    pub flow: String,
    pub purpose: String,
    pub callback_uri: String,
    pub person: Option<JourneySubject>,
    pub expires_in: Option<Duration>,
    pub client_reference: String,
    pub company_branch_id: String,
    pub use_case: String,
    pub bio_token_id: String,
}

/// The person of a journey, sent or read back. Personal data throughout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JourneySubject {
    /// As the vendor spells it (its set is wider than `DuiType`).
    pub dui_type: String,
    pub dui_value: Personal,
    pub friendly_name: Personal,
    pub phone: Personal,
    pub email: Personal,
    pub notification_channels: Vec<String>,
}

/// A process as `GET /client/v1/process/{id}` (or the create answer) reports it.
#[derive(Clone, Default, PartialEq)]
pub struct JourneyProcess {
    pub id: String,
    pub flow: String,
    pub purpose: String,
    pub callback_uri: String,
    pub user_redirect_url: String,
    /// The SDK's credential: never printed.
    pub sdk_token: String,
    pub state: String,
    pub result: String,
    /// RFC 3339 strings as sent; the contract layer parses them.
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    pub expires_at: Option<String>,
    pub client_reference: String,
    pub use_case: String,
    pub capacities: Vec<String>,
    pub person: Option<JourneySubject>,
    pub authentication: Option<AuthenticationResults>,
    pub company_branch_id: String,
    pub company_country_code: String,
    /// Every other field of `process`.
    pub unmodelled: Map<String, Value>,
}

// Only what is safe to print: the rest holds personal data and the token.
impl fmt::Debug for JourneyProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JourneyProcess")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

/// `process.authenticationInfo`: open-set sub-results as spelled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthenticationResults {
    pub authentication_id: String,
    pub liveness_result: String,
    pub authentication_result: String,
    pub identity_fraudsters_result: String,
    pub bio_token_engine_result: String,
    pub smart_revalidation_result: String,
    pub id_age_result: String,
    pub score_enabled: bool,
    pub score: Option<f64>,
    pub serpro_score: Option<f64>,
    pub unmodelled: Map<String, Value>,
}

impl UpstreamClient {
    pub async fn create_process(
        &self,
        credentials: &UpstreamCredentials,
        call: &CreateProcess,
        budget: Duration,
    ) -> Result<JourneyProcess, UpstreamError> {
        let url = endpoint_url(self.hosts().idcloud_api(), "/client/v1/process")
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        let body =
            serde_json::to_vec(&create_body(call)).map_err(|e| UpstreamError::BuildRequest {
                detail: e.to_string(),
            })?;
        let reply: RawReply = self
            .post_json(Endpoint::CreateProcess, url, credentials, body, budget)
            .await?;
        read_reply(reply.0)
    }

    pub async fn get_process(
        &self,
        credentials: &UpstreamCredentials,
        process_id: &ProcessId,
        budget: Duration,
    ) -> Result<JourneyProcess, UpstreamError> {
        let path = format!("/client/v1/process/{}", encode_segment(process_id.as_str()));
        let url = endpoint_url(self.hosts().idcloud_api(), &path)
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        let reply: RawReply = self
            .get_json(Endpoint::GetProcess, url, credentials, budget)
            .await?;
        read_reply(reply.0)
    }
}

/// The request body, camelCase as the page lists it; empty values omitted
/// so that the vendor applies its defaults.
fn create_body(call: &CreateProcess) -> Value {
    let mut body = Map::new();
    let put = |map: &mut Map<String, Value>, key: &str, value: &str| {
        if !value.is_empty() {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    };
    put(&mut body, "callbackUri", &call.callback_uri);
    put(&mut body, "flow", &call.flow);
    put(&mut body, "purpose", &call.purpose);
    if let Some(person) = &call.person {
        let mut p = Map::new();
        put(&mut p, "duiType", &person.dui_type);
        put(&mut p, "duiValue", person.dui_value.expose());
        put(&mut p, "friendlyName", person.friendly_name.expose());
        put(&mut p, "phone", person.phone.expose());
        put(&mut p, "email", person.email.expose());
        if !person.notification_channels.is_empty() {
            let channels: Vec<Value> = person
                .notification_channels
                .iter()
                .map(|c| json!({ "notificationChannel": c }))
                .collect();
            p.insert("notifications".into(), Value::Array(channels));
        }
        if !p.is_empty() {
            body.insert("person".into(), Value::Object(p));
        }
    }
    if let Some(expires_in) = call.expires_in {
        // protobuf JSON's Duration form, as the page's example (`"3600s"`).
        body.insert(
            "expiresIn".into(),
            Value::String(format!("{}s", expires_in.as_secs())),
        );
    }
    put(&mut body, "clientReference", &call.client_reference);
    put(&mut body, "companyBranchId", &call.company_branch_id);
    put(&mut body, "useCase", &call.use_case);
    put(&mut body, "bioTokenId", &call.bio_token_id);
    Value::Object(body)
}

fn malformed(detail: &str) -> UpstreamError {
    UpstreamError::UnparseableResponse {
        http_status: 200,
        detail: detail.to_owned(),
    }
}

/// `{"process": {...}}` → the domain, or malformed without `process.id`.
/// A 2xx answer as received: tolerant reading happens in [`read_reply`];
/// a success needs at least `process.id`.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct RawReply(Value);

impl super::success_body::SuccessBody for RawReply {
    fn missing(&self) -> Option<&'static str> {
        match self.0.pointer("/process/id").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => None,
            _ => Some("process.id"),
        }
    }
}

fn read_reply(reply: Value) -> Result<JourneyProcess, UpstreamError> {
    let Value::Object(mut reply) = reply else {
        return Err(malformed("the answer is not a JSON object"));
    };
    let Some(Value::Object(mut fields)) = reply.remove("process") else {
        return Err(malformed("the answer has no `process` object"));
    };
    let id = take_str(&mut fields, "id");
    if id.is_empty() {
        return Err(malformed("the answer has no `process.id`"));
    }
    let mut process = JourneyProcess {
        id,
        flow: take_str(&mut fields, "flow"),
        purpose: take_str(&mut fields, "purpose"),
        callback_uri: take_str(&mut fields, "callbackUri"),
        user_redirect_url: take_str(&mut fields, "userRedirectUrl"),
        sdk_token: take_str(&mut fields, "token"),
        state: take_str(&mut fields, "state"),
        result: take_str(&mut fields, "result"),
        created_at: take_opt_str(&mut fields, "createdAt"),
        finished_at: take_opt_str(&mut fields, "finishedAt"),
        expires_at: take_opt_str(&mut fields, "expiresAt"),
        client_reference: take_str(&mut fields, "clientReference"),
        use_case: take_str(&mut fields, "useCase"),
        capacities: take_strings(&mut fields, "capacities"),
        ..JourneyProcess::default()
    };
    if let Some(mut person) = take_object(&mut fields, "person") {
        process.person = Some(read_person(&mut person));
        if !person.is_empty() {
            fields.insert("person".into(), Value::Object(person));
        }
    }
    if let Some(info) = take_object(&mut fields, "authenticationInfo") {
        process.authentication = Some(read_authentication(info));
    }
    if let Some(mut company) = take_object(&mut fields, "companyData") {
        process.company_branch_id = take_str(&mut company, "branchId");
        process.company_country_code = take_str(&mut company, "countryCode");
        if !company.is_empty() {
            fields.insert("companyData".into(), Value::Object(company));
        }
    }
    process.unmodelled = fields;
    Ok(process)
}

/// Takes the known person fields; what is left stays for `unmodelled`.
fn read_person(person: &mut Map<String, Value>) -> JourneySubject {
    let mut channels = Vec::new();
    if let Some(Value::Array(items)) = person.get("notifications") {
        let all_known = items.iter().all(|item| {
            item.get("notificationChannel")
                .is_some_and(Value::is_string)
                && item.as_object().is_some_and(|o| o.len() == 1)
        });
        if all_known {
            channels = items
                .iter()
                .filter_map(|i| i["notificationChannel"].as_str().map(str::to_owned))
                .collect();
            person.remove("notifications");
        }
    }
    JourneySubject {
        dui_type: take_str(person, "duiType"),
        dui_value: Personal::new(take_str(person, "duiValue")),
        friendly_name: Personal::new(take_str(person, "friendlyName")),
        phone: Personal::new(take_str(person, "phone")),
        email: Personal::new(take_str(person, "email")),
        notification_channels: channels,
    }
}

fn read_authentication(mut info: Map<String, Value>) -> AuthenticationResults {
    let mut results = AuthenticationResults {
        authentication_id: take_str(&mut info, "authenticationId"),
        liveness_result: take_str(&mut info, "livenessResult"),
        authentication_result: take_str(&mut info, "authenticationResult"),
        identity_fraudsters_result: take_str(&mut info, "identityFraudstersResult"),
        bio_token_engine_result: take_str(&mut info, "bioTokenEngineResult"),
        smart_revalidation_result: take_str(&mut info, "smartRevalidationResult"),
        id_age_result: take_str(&mut info, "idAgeResult"),
        ..AuthenticationResults::default()
    };
    if let Some(mut score) = take_object(&mut info, "scoreEngineResult") {
        if let Some(Value::Bool(enabled)) = score.get("scoreEnabled") {
            results.score_enabled = *enabled;
            score.remove("scoreEnabled");
        }
        results.score = take_number(&mut score, "score");
        if !score.is_empty() {
            info.insert("scoreEngineResult".into(), Value::Object(score));
        }
    }
    if let Some(mut serpro) = take_object(&mut info, "serproResult") {
        results.serpro_score = take_number(&mut serpro, "score");
        if !serpro.is_empty() {
            info.insert("serproResult".into(), Value::Object(serpro));
        }
    }
    results.unmodelled = info;
    results
}

/// The string at `key`, removed; a null counts as absent; another type
/// stays where it is (kept in `unmodelled`).
fn take_str(map: &mut Map<String, Value>, key: &str) -> String {
    take_opt_str(map, key).unwrap_or_default()
}

fn take_opt_str(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key) {
        Some(Value::String(_)) => match map.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        Some(Value::Null) => {
            map.remove(key);
            None
        }
        _ => None,
    }
}

fn take_number(map: &mut Map<String, Value>, key: &str) -> Option<f64> {
    let number = map.get(key).and_then(Value::as_f64)?;
    map.remove(key);
    Some(number)
}

fn take_strings(map: &mut Map<String, Value>, key: &str) -> Vec<String> {
    let Some(Value::Array(items)) = map.get(key) else {
        return Vec::new();
    };
    if !items.iter().all(Value::is_string) {
        return Vec::new();
    }
    let strings = items
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    map.remove(key);
    strings
}

fn take_object(map: &mut Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
    match map.get(key) {
        Some(Value::Object(_)) => match map.remove(key) {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_are_read_and_the_rest_is_kept() {
        let reply = json!({"process": {
            "id": "p-1", "state": "PROCESS_STATE_FINISHED", "result": "PROCESS_RESULT_OK",
            "createdAt": "2026-01-02T03:04:05Z", "capacities": ["a"], "token": "sdk",
            "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "1", "notifications": [{"notificationChannel": "NOTIFICATION_CHANNEL_SMS"}], "extra": 1},
            "authenticationInfo": {"livenessResult": "LIVENESS_RESULT_LIVE", "scoreEngineResult": {"scoreEnabled": true, "score": 50}, "new": "x"},
            "companyData": {"branchId": "b", "countryCode": "BR"},
            "services": {"documents": []}, "flow": 7
        }});
        let p = read_reply(reply).unwrap();
        assert!(!format!("{p:?}").contains("sdk"));
        assert_eq!(p.state, "PROCESS_STATE_FINISHED");
        assert_eq!(p.sdk_token, "sdk");
        assert_eq!(p.created_at.as_deref(), Some("2026-01-02T03:04:05Z"));
        let person = p.person.unwrap();
        assert_eq!(person.dui_value.expose(), "1");
        assert_eq!(person.notification_channels, ["NOTIFICATION_CHANNEL_SMS"]);
        let auth = p.authentication.unwrap();
        assert!(auth.score_enabled);
        assert_eq!(auth.score, Some(50.0));
        assert_eq!(auth.unmodelled["new"], "x");
        assert_eq!(p.company_country_code, "BR");
        // A known field of an unexpected type and unknown fields survive.
        assert_eq!(p.unmodelled["flow"], 7);
        assert_eq!(p.unmodelled["person"]["extra"], 1);
        assert!(p.unmodelled.contains_key("services"));
        assert!(!p.unmodelled.contains_key("id"));
    }

    #[test]
    fn an_answer_without_a_process_id_is_malformed() {
        for reply in [json!([]), json!({}), json!({"process": {"state": "X"}})] {
            assert!(matches!(
                read_reply(reply),
                Err(UpstreamError::UnparseableResponse { .. })
            ));
        }
    }

    #[test]
    fn the_body_omits_empty_values_and_sends_the_duration_in_seconds() {
        let body = create_body(&CreateProcess {
            flow: "idunicodocs_r2".into(),
            purpose: "creditprocess".into(),
            callback_uri: "/".into(),
            person: Some(JourneySubject {
                friendly_name: Personal::new("Ana"),
                notification_channels: vec!["NOTIFICATION_CHANNEL_EMAIL".into()],
                email: Personal::new("a@b.c"),
                ..JourneySubject::default()
            }),
            expires_in: Some(Duration::from_secs(3600)),
            ..CreateProcess::default()
        });
        assert_eq!(
            body,
            json!({"callbackUri": "/", "flow": "idunicodocs_r2", "purpose": "creditprocess",
                "person": {"friendlyName": "Ana", "email": "a@b.c",
                    "notifications": [{"notificationChannel": "NOTIFICATION_CHANNEL_EMAIL"}]},
                "expiresIn": "3600s"})
        );
    }
}
