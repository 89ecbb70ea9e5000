//! How each host family shapes its answers. The vendor's pages give codes and messages but not
//! the envelopes; the shapes chosen here (and kept everywhere) are:
//!
//! - IDCloud client API: grpc-gateway style `{"code": N, "message": "…", "details": []}`, as its
//!   gRPC status numbers (3/5/9) suggest; 401s are plain text, as an API gateway's JWT filter
//!   answers (`Jwt is expired`).
//! - ID API: `{"error": {"code": N, "message": "…"}}`, one of the envelopes seen on the vendor's
//!   neighbouring pages, and on some answers the envelope the pages document for the ID API,
//!   `{"error": {"code": "N", "description": "…"}}` (a string code), so that clients meet both.
//! - 429 with an empty body: on the ID API with `Retry-After: 2` (the pages: "sometimes
//!   `Retry-After`"), on the IDCloud API without it (its page: "only the HTTP status").

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;

/// The seconds announced in `Retry-After` on a 429.
pub(super) const RETRY_AFTER_SECONDS: &str = "2";

/// Code and message of the internal error, identical on both families.
pub(super) const INTERNAL_CODE: u32 = 99999;
pub(super) const INTERNAL_MESSAGE: &str = "Internal failure! Try again later";

/// The grpc-gateway error body, fields in the gateway's order.
#[derive(Debug, Serialize)]
struct GatewayError<'a> {
    code: u32,
    message: &'a str,
    details: [(); 0],
}

pub(super) fn idcloud_error(status: StatusCode, code: u32, message: &str) -> Response {
    json_reply(
        status,
        &GatewayError {
            code,
            message,
            details: [],
        },
    )
}

pub(super) fn idcloud_unauthorized(message: &'static str) -> Response {
    plain_text(StatusCode::UNAUTHORIZED, message)
}

#[derive(Debug, Serialize)]
struct IdApiError<'a> {
    error: IdApiErrorBody<'a>,
}

#[derive(Debug, Serialize)]
struct IdApiErrorBody<'a> {
    code: u32,
    message: &'a str,
}

pub(super) fn id_api_error(status: StatusCode, code: u32, message: &str) -> Response {
    json_reply(
        status,
        &IdApiError {
            error: IdApiErrorBody { code, message },
        },
    )
}

/// The ID API envelope the pages document: a string code and a `description`.
pub(super) fn id_api_described_error(
    status: StatusCode,
    code: &str,
    description: &str,
) -> Response {
    json_reply(
        status,
        &serde_json::json!({"error": {"code": code, "description": description}}),
    )
}

/// The IDCloud API's 429: "no detailed error code: only the HTTP status".
pub(super) fn idcloud_rate_limited() -> Response {
    StatusCode::TOO_MANY_REQUESTS.into_response()
}

/// The ID API's 429, with the `Retry-After` the pages say it sometimes sends.
pub(super) fn rate_limited() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, RETRY_AFTER_SECONDS)],
    )
        .into_response()
}

pub(super) fn json_reply(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(error) => {
            tracing::error!(%error, "emulator answer does not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A JSON body serialised before (kept by a store), sent as it is.
pub(super) fn json_bytes(status: StatusCode, body: bytes::Bytes) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn plain_text(status: StatusCode, text: &'static str) -> Response {
    (status, [(CONTENT_TYPE, "text/plain")], text).into_response()
}
