//! The front of the emulator: matches raw paths to endpoints, caps and records each API request,
//! applies scripted faults, then hands the call to its endpoint.
//!
//! Paths are matched on the raw, still percent-encoded path, as a gateway routes: `%2F` inside a
//! process id stays inside the id instead of becoming a path separator, and an empty id
//! (`/client/v1/process//document`) reaches the endpoint so it can answer "process id is invalid".

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::percent_decode_str;

use super::auth::Tokens;
use super::faults::dropped_connection;
use super::recorder::RecordedRequest;
use super::replies;
use super::{
    EmulatedEndpoint, EmulatorState, admin, create_document_process, document_reads, journeys,
    set_process_document, token,
};

/// The largest request body read; larger ones answer 413 as a front proxy would.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

const SET_PROCESS_DOCUMENT_PREFIX: &str = "/client/v1/process/";
const SET_PROCESS_DOCUMENT_SUFFIX: &str = "/document";
const CREATE_DOCUMENT_PROCESS_PATH: &str = "/processes/v1";
const CREATE_PROCESS_PATH: &str = "/client/v1/process";
const TOKEN_PATH: &str = "/oauth2/token";
const LIST_DOCUMENTS_PATH: &str = "/documents/v1";
const GET_DOCUMENT_PROCESS_PREFIX: &str = "/processes/v1/";
/// The IDCloud client API's paths, answered in its grpc-gateway style when no route matches.
const IDCLOUD_PREFIX: &str = "/client/";

pub(super) fn router(state: Arc<EmulatorState>) -> Router {
    admin::router().fallback(api).with_state(state)
}

/// The endpoint a raw path names, with the raw (still encoded) process id when it has one.
fn match_path(raw_path: &str) -> Option<(EmulatedEndpoint, Option<&str>)> {
    if raw_path == CREATE_DOCUMENT_PROCESS_PATH {
        return Some((EmulatedEndpoint::CreateDocumentProcess, None));
    }
    if raw_path == TOKEN_PATH {
        return Some((EmulatedEndpoint::Token, None));
    }
    if raw_path == LIST_DOCUMENTS_PATH {
        return Some((EmulatedEndpoint::ListReusableDocuments, None));
    }
    if let Some(raw_id) = raw_path.strip_prefix(GET_DOCUMENT_PROCESS_PREFIX) {
        return (!raw_id.contains('/'))
            .then_some((EmulatedEndpoint::GetDocumentProcess, Some(raw_id)));
    }
    if raw_path == CREATE_PROCESS_PATH {
        return Some((EmulatedEndpoint::CreateProcess, None));
    }
    let rest = raw_path.strip_prefix(SET_PROCESS_DOCUMENT_PREFIX)?;
    if !rest.contains('/') {
        return Some((EmulatedEndpoint::GetProcess, Some(rest)));
    }
    let raw_id = rest.strip_suffix(SET_PROCESS_DOCUMENT_SUFFIX)?;
    (!raw_id.contains('/')).then_some((EmulatedEndpoint::SetProcessDocument, Some(raw_id)))
}

/// The one method each endpoint answers.
fn method_of(endpoint: EmulatedEndpoint) -> Method {
    match endpoint {
        EmulatedEndpoint::ListReusableDocuments
        | EmulatedEndpoint::GetDocumentProcess
        | EmulatedEndpoint::GetProcess => Method::GET,
        EmulatedEndpoint::CreateProcess
        | EmulatedEndpoint::SetProcessDocument
        | EmulatedEndpoint::CreateDocumentProcess
        | EmulatedEndpoint::Token => Method::POST,
    }
}

async fn api(State(state): State<Arc<EmulatorState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    if admin::is_admin_path(&raw_path) {
        // Unknown admin paths are not API calls: answered, never recorded.
        return admin::not_found();
    }
    let matched = match_path(&raw_path);
    let endpoint = matched
        .filter(|(endpoint, _)| parts.method == method_of(*endpoint))
        .map(|(endpoint, _)| endpoint);
    let decoded_id: Option<Vec<u8>> = matched
        .and_then(|(_, raw_id)| raw_id)
        .map(|raw_id| percent_decode_str(raw_id).collect());
    let body = read_body(&parts.headers, body).await;
    state.recorder.record(RecordedRequest::new(
        &parts,
        endpoint,
        decoded_id.as_deref(),
        body.clone().unwrap_or_default(),
    ));
    // Counts the call as abandoned unless it reaches its answer: when the
    // client goes away (a cancelled call, an expired deadline), the server
    // drops this future midway, which is what tests assert on.
    let watch = AbandonWatch(&state.abandoned, true);
    let response = answer(
        &state,
        &parts,
        endpoint,
        &raw_path,
        matched.is_some(),
        decoded_id,
        body,
    )
    .await;
    watch.answered();
    response
}

/// Counts the calls whose handling was dropped before an answer.
struct AbandonWatch<'a>(&'a AtomicUsize, bool);

impl AbandonWatch<'_> {
    fn answered(mut self) {
        self.1 = false;
    }
}

impl Drop for AbandonWatch<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn answer(
    state: &EmulatorState,
    parts: &http::request::Parts,
    endpoint: Option<EmulatedEndpoint>,
    raw_path: &str,
    path_matched: bool,
    decoded_id: Option<Vec<u8>>,
    body: Result<Bytes, BodyProblem>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(problem) => return problem.reply(),
    };
    let Some(endpoint) = endpoint else {
        return not_routed(raw_path, path_matched, &parts.method);
    };
    if endpoint == EmulatedEndpoint::Token {
        state.token.count_request();
    }

    let fault = state.faults.take(endpoint);
    if let Some(fault) = &fault {
        if !fault.wait(state.stopping.clone()).await || fault.drop_connection {
            tracing::info!(?endpoint, "scripted fault: connection dropped");
            return dropped_connection();
        }
        if let Some(answer) = fault.answer() {
            tracing::info!(
                ?endpoint,
                status = answer.status().as_u16(),
                "scripted fault answered"
            );
            return answer;
        }
    }
    let tokens = Tokens {
        accepted: &state.config.accepted_tokens,
        issued: &state.issued,
    };
    // The path's process id as text; `None` when it does not decode to UTF-8.
    let id = decoded_id
        .as_deref()
        .and_then(|id| std::str::from_utf8(id).ok());
    let mut response = match endpoint {
        EmulatedEndpoint::SetProcessDocument => {
            set_process_document::handle(&state.processes, tokens, &parts.headers, id, &body)
        }
        EmulatedEndpoint::CreateDocumentProcess => create_document_process::handle(
            &state.documents,
            &state.document_processes,
            &state.config,
            tokens,
            &parts.headers,
            &body,
        ),
        EmulatedEndpoint::GetDocumentProcess => document_reads::get_process(
            &state.document_processes,
            &state.config,
            tokens,
            &parts.headers,
            id,
        ),
        EmulatedEndpoint::CreateProcess => journeys::create(
            &state.journeys,
            &state.processes,
            tokens,
            &parts.headers,
            &body,
        ),
        EmulatedEndpoint::GetProcess => journeys::get(
            &state.journeys,
            &state.processes,
            tokens,
            &parts.headers,
            id,
        ),
        EmulatedEndpoint::ListReusableDocuments => document_reads::list_documents(
            &state.documents,
            &state.config,
            tokens,
            &parts.headers,
            parts.uri.query(),
        ),
        EmulatedEndpoint::Token => token::handle(
            &state.token,
            &state.issued,
            &state.config,
            &parts.headers,
            &body,
        ),
    };
    if let Some(fault) = &fault {
        fault.add_headers(&mut response);
    }
    tracing::info!(
        ?endpoint,
        status = response.status().as_u16(),
        "emulated call"
    );
    response
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy)]
enum BodyProblem {
    TooLarge,
    /// The client went away or sent a broken body.
    Unreadable,
}

impl BodyProblem {
    fn reply(self) -> Response {
        match self {
            BodyProblem::TooLarge => {
                replies::plain_text(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            }
            BodyProblem::Unreadable => replies::plain_text(StatusCode::BAD_REQUEST, "Bad Request"),
        }
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, BodyProblem> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(BodyProblem::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut collected = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyProblem::Unreadable)?;
        if collected.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyProblem::TooLarge);
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(collected.freeze())
}

/// No endpoint for this request. Emulator assumption: under `/client/` the grpc-gateway answers
/// (404 code 5, 405 code 12); elsewhere a bare plain-text status. A 405 names the path's method.
fn not_routed(raw_path: &str, path_matched: bool, method: &Method) -> Response {
    let idcloud = raw_path.starts_with(IDCLOUD_PREFIX);
    let allow = match match_path(raw_path) {
        Some((endpoint, _)) => method_of(endpoint),
        None => method.clone(),
    };
    let allow = [(ALLOW, allow.to_string())];
    match (path_matched, idcloud) {
        (true, true) => (
            allow,
            replies::idcloud_error(StatusCode::METHOD_NOT_ALLOWED, 12, "Method Not Allowed"),
        )
            .into_response(),
        (true, false) => (
            allow,
            replies::plain_text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        )
            .into_response(),
        (false, true) => replies::idcloud_error(StatusCode::NOT_FOUND, 5, "Not Found"),
        (false, false) => replies::plain_text(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_map_to_endpoints_without_decoding_separators() {
        let set = EmulatedEndpoint::SetProcessDocument;
        let cases = [
            (
                "/processes/v1",
                Some((EmulatedEndpoint::CreateDocumentProcess, None)),
            ),
            ("/client/v1/process/abc/document", Some((set, Some("abc")))),
            ("/client/v1/process//document", Some((set, Some("")))),
            (
                "/client/v1/process/..%2Fx/document",
                Some((set, Some("..%2Fx"))),
            ),
            ("/client/v1/process/a/b/document", None),
            (
                "/client/v1/process/document",
                Some((EmulatedEndpoint::GetProcess, Some("document"))),
            ),
            (
                "/client/v1/process",
                Some((EmulatedEndpoint::CreateProcess, None)),
            ),
            (
                "/client/v1/process/p-1",
                Some((EmulatedEndpoint::GetProcess, Some("p-1"))),
            ),
            ("/client/v1/process/abc/document/", None),
            (
                "/processes/v1/",
                Some((EmulatedEndpoint::GetDocumentProcess, Some(""))),
            ),
            (
                "/processes/v1/p-1",
                Some((EmulatedEndpoint::GetDocumentProcess, Some("p-1"))),
            ),
            ("/processes/v1/p/x", None),
            (
                "/documents/v1",
                Some((EmulatedEndpoint::ListReusableDocuments, None)),
            ),
            ("/oauth2/token", Some((EmulatedEndpoint::Token, None))),
            ("/oauth2/token/", None),
            ("/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(match_path(path), expected, "{path}");
        }
    }
}
