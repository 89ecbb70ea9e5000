//! The ID API's reads, from `more-endpoints.md` (less complete than the two
//! reference pages; every assumption is marked):
//! - `GET /processes/v1/{processId}`: a document process read again. The
//!   processes created by `POST /processes/v1` are kept per instance; one
//!   tied to the `auth-async-capture` biometric fixture answers status 1
//!   for a few reads, then its final answer. Unknown ids answer 404;
//!   `proc-doc-gone` 410 and `proc-doc-rate-limited` 429.
//! - `GET /documents/v1?code=…&type=…`: the reusable documents of a person,
//!   from the documents captured (or seeded) in this instance.
//!
//! Both check the ID API's credentials first, as create-document-process
//! does.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::EmulatorConfig;
use super::auth::Tokens;
use super::create_document_process::{DocumentStore, id_api_credentials};
use super::fixtures;
use super::replies;

/// The `type` words the page lists.
const TYPE_WORDS: [&str; 4] = ["BR_RG", "BR_CNH", "BR_CIN", "BR_PASSPORT"];

/// A kept document process: its answer now (serialised, keeping the
/// field order of the create answer), and what it becomes.
#[derive(Debug, Clone)]
struct Record {
    current: Bytes,
    /// The final answer and how many more reads answer `current` first.
    pending: Option<(Bytes, usize)>,
}

/// The document processes created in this instance.
#[derive(Debug, Default)]
pub(super) struct DocumentProcesses {
    records: Mutex<HashMap<String, Record>>,
}

impl DocumentProcesses {
    pub(super) fn insert(&self, id: &str, answer: Bytes) {
        self.lock().insert(
            id.to_owned(),
            Record {
                current: answer,
                pending: None,
            },
        );
    }

    /// A process whose capture is still running: `processing` is read
    /// [`fixtures::ASYNC_CAPTURE_PENDING_READS`] times, then `finished`.
    pub(super) fn insert_pending(&self, id: &str, processing: Bytes, finished: Bytes) {
        self.lock().insert(
            id.to_owned(),
            Record {
                current: processing,
                pending: Some((finished, fixtures::ASYNC_CAPTURE_PENDING_READS)),
            },
        );
    }

    /// One read: the current answer, moving a pending process on.
    fn read(&self, id: &str) -> Option<Bytes> {
        let mut records = self.lock();
        let record = records.get_mut(id)?;
        let answer = record.current.clone();
        if let Some((finished, reads_left)) = &mut record.pending {
            *reads_left -= 1;
            if *reads_left == 0 {
                record.current = finished.clone();
                record.pending = None;
            }
        }
        Some(answer)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET /processes/v1/{processId}`; `id` is `None` when it is not UTF-8.
pub(super) fn get_process(
    processes: &DocumentProcesses,
    config: &EmulatorConfig,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Response {
    if let Some(refused) = id_api_credentials(headers, config, tokens) {
        return refused;
    }
    // Emulator assumption: "400 bad id" is an empty id or one that is not
    // UTF-8; the body is the page's `{"error":{"code":…,"description":…}}`
    // with a string code.
    let Some(id) = id.filter(|id| !id.trim().is_empty()) else {
        return description_error(
            StatusCode::BAD_REQUEST,
            "invalid_process_id",
            "The processId is invalid.",
        );
    };
    match id {
        fixtures::DOCUMENT_PROCESS_GONE => description_error(
            StatusCode::GONE,
            "process_gone",
            "The process ended in error or was deleted.",
        ),
        fixtures::DOCUMENT_PROCESS_RATE_LIMITED => replies::rate_limited(),
        _ => match processes.read(id) {
            Some(answer) => replies::json_bytes(StatusCode::OK, answer),
            None => description_error(
                StatusCode::NOT_FOUND,
                "process_not_found",
                "The process was not found.",
            ),
        },
    }
}

/// `GET /documents/v1?code=…&type=…`.
pub(super) fn list_documents(
    documents: &DocumentStore,
    config: &EmulatorConfig,
    tokens: Tokens<'_>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    if let Some(refused) = id_api_credentials(headers, config, tokens) {
        return refused;
    }
    let pairs: Vec<(String, String)> = query
        .map(|q| url_pairs(q).into_iter().collect::<Vec<(String, String)>>())
        .unwrap_or_default();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    // Emulator assumption: both parameters are required (the page shows
    // both); the 400 uses the page's string-code envelope.
    let Some(code) = value("code") else {
        return description_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "The code parameter is required.",
        );
    };
    let Some(type_word) = value("type").filter(|t| TYPE_WORDS.contains(t)) else {
        return description_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "The type parameter is invalid.",
        );
    };
    // Both documented empty answers are served: `[{}]` for a person with no
    // document at all, `[]` for one without a document of that type.
    let items: Vec<Value> = match documents.reusable(code, type_word) {
        None => vec![json!({})],
        Some(found) => found
            .into_iter()
            .map(|(id, document_type)| json!({"documentType": document_type, "documentId": id}))
            .collect(),
    };
    replies::json_reply(StatusCode::OK, &json!({ "items": items }))
}

/// The ID API envelope with a string code and a `description`.
fn description_error(status: StatusCode, code: &str, description: &str) -> Response {
    replies::id_api_described_error(status, code, description)
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_process_turns_final_after_its_reads() {
        let processes = DocumentProcesses::default();
        processes.insert_pending("p", Bytes::from_static(b"1"), Bytes::from_static(b"3"));
        let answers: Vec<_> = (0..4).map(|_| processes.read("p").unwrap()).collect();
        assert_eq!(answers, [&b"1"[..], b"1", b"3", b"3"]);
        assert!(processes.read("q").is_none());
    }

    #[test]
    fn query_pairs_are_decoded() {
        assert_eq!(
            url_pairs("code=529%2E98&type=BR_CNH&x"),
            vec![
                ("code".to_owned(), "529.98".to_owned()),
                ("type".to_owned(), "BR_CNH".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
    }
}
