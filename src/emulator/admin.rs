//! The admin API under `/__emulator/`, for driving a standalone emulator from outside (scripts,
//! other languages); in-process tests use the methods of `Emulator` instead. Admin calls are never
//! recorded and never faulted.
//!
//! | call | answer |
//! |---|---|
//! | `POST /__emulator/faults` (a `FaultScript` as JSON) | 204; 400 `{"error": "…"}` if the script is not valid |
//! | `DELETE /__emulator/faults` | 204 |
//! | `GET /__emulator/requests` | 200, the recorded requests (bodies as lossy UTF-8 strings) |
//! | `DELETE /__emulator/requests` | 204 |
//! | `GET /__emulator/processes` | 200, the fixtures and the current processes and documents |
//! | `DELETE /__emulator/tokens` | 204; every issued access token is invalid from now on |
//! | `POST /__emulator/journeys/{processId}/finish` (`{"result": "ok" \| "invalid_identity" \| "expired" \| "error"}`, default `ok`) | 202, the journey is finished and its webhook scheduled; 404 for an unknown process |
//! | `PUT /__emulator/webhook` (a `WebhookTarget`: `{"url", "auth": "none" \| {"basic": {"username", "password"}} \| {"apiKey": {"header", "value"}}, "copies", "delayMs"}`) | 204 |
//! | `DELETE /__emulator/webhook` | 204, no more deliveries |
//! | `GET /__emulator/webhook/deliveries` | 200, every delivery attempt (`processId`, `status`) |

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::faults::FaultScript;
use super::journeys::JourneyEnd;
use super::webhook::WebhookTarget;
use super::{EmulatorState, fixtures, replies};

const PREFIX: &str = "/__emulator";

type AppState = Arc<EmulatorState>;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/__emulator/faults",
            axum::routing::post(script_fault).delete(clear_faults),
        )
        .route(
            "/__emulator/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/__emulator/processes", get(list_processes))
        .route("/__emulator/tokens", axum::routing::delete(revoke_tokens))
        .route(
            "/__emulator/journeys/{process_id}/finish",
            axum::routing::post(finish_journey),
        )
        .route(
            "/__emulator/webhook",
            axum::routing::put(set_webhook).delete(clear_webhook),
        )
        .route("/__emulator/webhook/deliveries", get(list_deliveries))
}

#[derive(serde::Deserialize)]
struct FinishBody {
    #[serde(default = "finished_ok")]
    result: JourneyEnd,
}

fn finished_ok() -> JourneyEnd {
    JourneyEnd::Ok
}

async fn finish_journey(
    State(state): State<AppState>,
    axum::extract::Path(process_id): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let end = if body.is_empty() {
        JourneyEnd::Ok
    } else {
        match serde_json::from_slice::<FinishBody>(&body) {
            Ok(finish) => finish.result,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid finish: {e}")),
        }
    };
    if state.finish_journey(&process_id, end) {
        StatusCode::ACCEPTED.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "no such journey".into())
    }
}

async fn set_webhook(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<WebhookTarget>(&body) {
        Ok(target) => {
            state.webhook.set_target(Some(target));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("invalid webhook: {e}")),
    }
}

async fn clear_webhook(State(state): State<AppState>) -> StatusCode {
    state.webhook.set_target(None);
    StatusCode::NO_CONTENT
}

async fn list_deliveries(State(state): State<AppState>) -> Response {
    replies::json_reply(StatusCode::OK, &state.webhook.deliveries())
}

pub(super) fn is_admin_path(raw_path: &str) -> bool {
    raw_path
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub(super) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "unknown emulator admin path".into())
}

fn error(status: StatusCode, message: String) -> Response {
    replies::json_reply(status, &json!({ "error": message }))
}

async fn script_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let fault = match serde_json::from_slice::<FaultScript>(&body) {
        Ok(fault) => fault,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid fault script: {e}"),
            );
        }
    };
    if let Err(e) = fault.check() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault script: {e}"),
        );
    }
    state.faults.push(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn list_requests(State(state): State<AppState>) -> Response {
    replies::json_reply(StatusCode::OK, &state.recorder.snapshot())
}

async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.recorder.clear();
    StatusCode::NO_CONTENT
}

async fn revoke_tokens(State(state): State<AppState>) -> StatusCode {
    state.issued.revoke_all();
    StatusCode::NO_CONTENT
}

/// The seeded fixtures with their documented behaviour, and what the instance holds now
/// (processes created on sight or changed by calls, captured documents).
async fn list_processes(State(state): State<AppState>) -> Response {
    let describe = |id: &str| {
        fixtures::PROCESSES
            .iter()
            .find(|fixture| fixture.id == id)
            .map(|fixture| fixture.behaviour)
    };
    let processes: Vec<Value> = state
        .processes
        .snapshot()
        .into_iter()
        .map(|(id, current)| {
            json!({
                "processId": id,
                "state": current,
                "behaviour": describe(&id).unwrap_or("created on first sight (awaiting- prefix)"),
            })
        })
        .collect();
    let biometric: Vec<Value> = fixtures::BIOMETRIC_PROCESSES
        .iter()
        .map(|fixture| json!({ "authProcessId": fixture.id, "behaviour": fixture.behaviour }))
        .collect();
    replies::json_reply(
        StatusCode::OK,
        &json!({
            "set-process-document": {
                "processes": processes,
                "awaitingPrefix": fixtures::AWAITING_PREFIX,
            },
            "create-document-process": {
                "biometricProcesses": biometric,
                "documents": state.documents.summaries(),
                "divergentName": fixtures::DIVERGENT_NAME,
            },
        }),
    )
}
