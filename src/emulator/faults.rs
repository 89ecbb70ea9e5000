//! Fault scripting: the failures a real upstream shows now and then (a 503 from a load balancer,
//! a slow answer, a connection cut mid-answer), made to happen on demand so the facade's handling
//! of them can be tested.
//!
//! A scripted fault applies to the next `times` calls of its endpoint (or of any endpoint), before
//! any normal processing; several scripted faults are used first in, first out.

use std::collections::VecDeque;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, StatusCode};
use tokio::sync::watch;

use super::EmulatedEndpoint;

/// A fault to inject into upcoming calls. As JSON (admin API) the fields are snake_case and all
/// optional, e.g. `{"endpoint": "set-process-document", "status": 503, "body": "<html>…",
/// "headers": [["content-type", "text/html"]], "times": 2}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultScript {
    /// None = any endpoint.
    pub endpoint: Option<EmulatedEndpoint>,
    /// How many upcoming calls get this fault (default 1; 0 scripts nothing).
    pub times: u32,
    /// Answer with this status instead of the normal behaviour (None = normal answer, possibly delayed).
    pub status: Option<u16>,
    /// Added to the answer, scripted or normal. A scripted answer with a body gets a
    /// `content-type` (JSON if the body parses as JSON, else plain text) unless one is given here.
    pub headers: Vec<(String, String)>,
    /// Body of the scripted answer; ignored without `status`.
    pub body: Option<String>,
    /// Wait this long before answering (milliseconds); a delay alone delays the normal answer.
    pub delay_ms: Option<u64>,
    /// Drop the connection instead of answering (after the delay, if any). Implement by sending headers then
    /// failing the body stream, or any other way that makes the HTTP client see the connection lost.
    pub drop_connection: bool,
}

impl Default for FaultScript {
    fn default() -> Self {
        Self {
            endpoint: None,
            times: 1,
            status: None,
            headers: Vec::new(),
            body: None,
            delay_ms: None,
            drop_connection: false,
        }
    }
}

impl FaultScript {
    /// Whether the script can be answered as written: a real status, valid header names and values.
    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(status) = self.status
            && scripted_status(status).is_none()
        {
            return Err(format!("invalid status {status} (200 to 599)"));
        }
        for (name, value) in &self.headers {
            HeaderName::try_from(name.as_str())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("invalid value for header {name:?}"))?;
        }
        Ok(())
    }

    fn applies_to(&self, endpoint: EmulatedEndpoint) -> bool {
        self.endpoint.is_none_or(|e| e == endpoint)
    }

    /// Waits out the scripted delay. `false` when the server began stopping meanwhile: the caller
    /// should then give up on the answer rather than hold the shutdown.
    pub(super) async fn wait(&self, mut stopping: watch::Receiver<bool>) -> bool {
        let Some(ms) = self.delay_ms else {
            return true;
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => true,
            _ = stopping.wait_for(|stopping| *stopping) => false,
        }
    }

    /// The scripted answer, if the script replaces the normal one.
    pub(super) fn answer(&self) -> Option<Response> {
        let status = self.status?;
        let mut response = Response::new(Body::from(self.body.clone().unwrap_or_default()));
        // `check` vetted admin scripts; a bad status scripted from Rust becomes a 500.
        *response.status_mut() = scripted_status(status).unwrap_or_else(|| {
            tracing::warn!(
                status,
                "scripted fault has an invalid status; answering 500"
            );
            StatusCode::INTERNAL_SERVER_ERROR
        });
        if let Some(body) = &self.body {
            let content_type = if serde_json::from_str::<serde_json::Value>(body).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        // Scripted headers replace defaults of the same name (e.g. content-type).
        let headers: Vec<_> = self.parsed_headers().collect();
        for (name, _) in &headers {
            response.headers_mut().remove(name);
        }
        for (name, value) in headers {
            response.headers_mut().append(name, value);
        }
        Some(response)
    }

    /// Adds the scripted headers to an answer (several values of one name are kept).
    pub(super) fn add_headers(&self, response: &mut Response) {
        for (name, value) in self.parsed_headers() {
            response.headers_mut().append(name, value);
        }
    }

    fn parsed_headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        self.headers.iter().filter_map(|(name, value)| {
            let parsed = HeaderName::try_from(name.as_str())
                .ok()
                .zip(HeaderValue::try_from(value.as_str()).ok());
            if parsed.is_none() {
                tracing::warn!(header = %name, "scripted fault header is invalid; skipped");
            }
            parsed
        })
    }
}

/// A status a scripted answer may carry: a final one (1xx would confuse the connection).
fn scripted_status(status: u16) -> Option<StatusCode> {
    (200..=599)
        .contains(&status)
        .then(|| StatusCode::from_u16(status).ok())
        .flatten()
}

/// An answer whose body fails at once: hyper then closes the connection (HTTP/1.1; the head is
/// dropped with it) or resets the stream (HTTP/2), so the client sees the connection lost.
pub(super) fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "emulator: scripted connection drop",
        ))
    });
    Response::new(Body::from_stream(failing))
}

#[derive(Debug)]
struct Scripted {
    fault: FaultScript,
    remaining: u32,
}

/// The scripted faults of one emulator, in the order they were scripted.
#[derive(Debug, Default)]
pub(super) struct FaultQueue {
    queue: Mutex<VecDeque<Scripted>>,
}

impl FaultQueue {
    pub(super) fn push(&self, fault: FaultScript) {
        if fault.times == 0 {
            tracing::debug!("fault scripted for 0 calls; nothing to do");
            return;
        }
        let remaining = fault.times;
        self.lock().push_back(Scripted { fault, remaining });
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// The fault for this call of `endpoint`, if one is scripted; counts it down.
    pub(super) fn take(&self, endpoint: EmulatedEndpoint) -> Option<FaultScript> {
        let mut queue = self.lock();
        let index = queue.iter().position(|s| s.fault.applies_to(endpoint))?;
        let scripted = queue.get_mut(index)?;
        scripted.remaining = scripted.remaining.saturating_sub(1);
        if scripted.remaining == 0 {
            queue.remove(index).map(|s| s.fault)
        } else {
            Some(scripted.fault.clone())
        }
    }

    // A panic while holding the lock cannot leave the queue half-updated, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Scripted>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
