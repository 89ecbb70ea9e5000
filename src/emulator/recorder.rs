//! Request recording: every API request the emulator receives, as it arrived, so tests can assert
//! what the facade sent upstream (path, headers, JSON), not only what came back.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::request::Parts;
use serde::Serializer;

use super::EmulatedEndpoint;

/// How many requests are kept; beyond it the oldest are dropped, so that a long-running standalone
/// emulator does not grow without bound.
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path exactly as received on the wire, still percent-encoded (e.g. "/client/v1/process/..%2Fx/document").
    pub raw_path: String,
    pub query: Option<String>,
    /// Which endpoint matched, if any.
    pub endpoint: Option<EmulatedEndpoint>,
    /// Decoded path parameter (processId) when the route has one.
    pub process_id: Option<String>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Serialized as a (lossy) UTF-8 string.
    #[serde(serialize_with = "lossy_utf8")]
    pub body: Bytes,
    /// When it was received, in microseconds since the emulator started
    /// (a monotonic clock): what a rate limit at the vendor would count.
    pub received_us: u64,
}

impl RecordedRequest {
    /// `process_id` is the decoded path parameter as bytes (not always UTF-8); `body` is empty
    /// when it could not be read.
    pub(super) fn new(
        parts: &Parts,
        endpoint: Option<EmulatedEndpoint>,
        process_id: Option<&[u8]>,
        body: Bytes,
    ) -> Self {
        let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        RecordedRequest {
            method: parts.method.to_string(),
            raw_path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            endpoint,
            process_id: process_id.map(lossy),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), lossy(value.as_bytes())))
                .collect(),
            body,
            received_us: 0,
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn lossy_utf8<S: Serializer>(body: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(body))
}

#[derive(Debug)]
pub(super) struct Recorder {
    requests: Mutex<VecDeque<RecordedRequest>>,
    started: std::time::Instant,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            requests: Mutex::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl Recorder {
    pub(super) fn record(&self, mut request: RecordedRequest) {
        request.received_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut requests = self.lock();
        if requests.len() == CAPACITY {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    pub(super) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().iter().cloned().collect()
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    // A panic while holding the lock cannot leave the list half-updated, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, VecDeque<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
