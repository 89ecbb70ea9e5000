//! What the store keeps for one (caller, method, request id), before
//! encryption: the request's fingerprint and the state of its one upstream
//! call. Serialized as JSON, then sealed by the [`super::Keyring`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{
    credentials,
    status::CallContext,
    upstream::{Endpoint, VendorCode, VendorError},
};

/// The state of a request id's call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(super) enum Record {
    /// A replica is making the call; it renews `lease_until_ms` while it
    /// does. A lease past its time means the replica died mid-call.
    InProgress {
        fingerprint: String,
        lease_until_ms: u64,
    },
    /// The vendor answered: the answer is replayed to every repeat.
    Answered {
        fingerprint: String,
        answer: StoredAnswer,
    },
    /// The request may or may not have reached the vendor: never sent again.
    Unknown { fingerprint: String },
}

impl Record {
    pub(super) fn fingerprint(&self) -> &str {
        match self {
            Record::InProgress { fingerprint, .. }
            | Record::Answered { fingerprint, .. }
            | Record::Unknown { fingerprint } => fingerprint,
        }
    }

    pub(super) fn in_progress(fingerprint: &str, lease: Duration) -> Self {
        Record::InProgress {
            fingerprint: fingerprint.to_owned(),
            lease_until_ms: now_ms().saturating_add(lease.as_millis() as u64),
        }
    }
}

/// Milliseconds since the Unix epoch: leases are compared across replicas.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A vendor answer, as the handler got it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum StoredAnswer {
    /// The response message, protobuf-encoded (base64 in the JSON).
    Success { message: String },
    /// A vendor error, with what its mapping depends on: replayed through
    /// the same status table, so it maps as the first answer did.
    VendorError(StoredVendorError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredVendorError {
    endpoint: String,
    caller_credentials: bool,
    resource_name: Option<String>,
    precondition_subject: Option<String>,
    reusing_document: bool,
    http_status: u16,
    code_number: Option<i64>,
    code_text: Option<String>,
    message: Option<String>,
    retry_after_ms: Option<u64>,
}

impl StoredVendorError {
    pub(super) fn new(
        endpoint: Endpoint,
        origin: credentials::Origin,
        context: &CallContext,
        vendor: &VendorError,
    ) -> Self {
        let (code_number, code_text) = match &vendor.code {
            Some(VendorCode::Number(n)) => (Some(*n), None),
            Some(VendorCode::Text(t)) => (None, Some(t.clone())),
            None => (None, None),
        };
        Self {
            endpoint: endpoint.route().to_owned(),
            caller_credentials: origin == credentials::Origin::Caller,
            resource_name: context.resource_name.clone(),
            precondition_subject: context.precondition_subject.clone(),
            reusing_document: context.reusing_document,
            http_status: vendor.http_status,
            code_number,
            code_text,
            message: vendor.message.clone(),
            retry_after_ms: vendor.retry_after.map(|d| d.as_millis() as u64),
        }
    }

    /// The error again, for `endpoint` (the stored route must match it).
    pub(super) fn restore(
        &self,
        endpoint: Endpoint,
    ) -> Option<(credentials::Origin, CallContext, VendorError)> {
        if self.endpoint != endpoint.route() {
            return None;
        }
        let origin = match self.caller_credentials {
            true => credentials::Origin::Caller,
            false => credentials::Origin::Facade,
        };
        let context = CallContext {
            resource_name: self.resource_name.clone(),
            precondition_subject: self.precondition_subject.clone(),
            reusing_document: self.reusing_document,
        };
        let code = match (&self.code_number, &self.code_text) {
            (Some(n), _) => Some(VendorCode::Number(*n)),
            (None, Some(t)) => Some(VendorCode::Text(t.clone())),
            (None, None) => None,
        };
        let vendor = VendorError {
            http_status: self.http_status,
            code,
            message: self.message.clone(),
            retry_after: self.retry_after_ms.map(Duration::from_millis),
            // The raw body is for debugging the first answer only.
            body_excerpt: String::new(),
        };
        Some((origin, context, vendor))
    }
}
