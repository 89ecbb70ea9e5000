//! The seeded ids of the emulator and what each one does: the one place to read (and copy into
//! the README) to drive every documented outcome from a client.
//!
//! Credentials:
//!
//! | value | where | behaviour |
//! |---|---|---|
//! | `emulator-token` | `Authorization: Bearer …` | accepted (default of `EmulatorConfig::accepted_tokens`) |
//! | `emulator-expired-token` | `Authorization: Bearer …` | 401 `Jwt is expired` (IDCloud), 403 `10502` (ID API) |
//! | an `emu-at-…` token from `POST /oauth2/token`, within its `expires_in` | `Authorization: Bearer …` | accepted |
//! | an `emu-at-…` token past its `expires_in` | `Authorization: Bearer …` | as `emulator-expired-token` (forgotten an hour later: then as anything else) |
//! | a revoked `emu-at-…` token (`Emulator::revoke_tokens`, `DELETE /__emulator/tokens`) | `Authorization: Bearer …` | as anything else |
//! | anything else, a JWT included (signed or not, whatever its `exp`) | `Authorization: Bearer …` | 401 `Jwt header is an invalid JSON` (IDCloud), 403 `10501` (ID API) |
//! | `emulator-apikey` | `APIKEY` | accepted (default of `EmulatorConfig::accepted_api_keys`) |
//! | `emulator-apikey-no-permission` | `APIKEY` | 403 `30017` |
//! | anything else | `APIKEY` | 403 `10201` |
//!
//! The token endpoint (`POST /oauth2/token`) has no seeded account: it accepts assertions signed by
//! the keys of `EmulatorConfig::service_accounts` (none by default, so every decodable assertion
//! answers `1.0.1`); its answers are tabled in `token.rs` and `assertion.rs`.
//!
//! Set process document (`POST /client/v1/process/{processId}/document`), by `processId`:
//!
//! | processId | behaviour |
//! |---|---|
//! | `proc-awaiting-document` | `AWAITING_FOR_DOCUMENT`: the first call answers 200 and sets the document; later calls answer 400 code 9 `document already set, cannot be modified` |
//! | `awaiting-…` (any id with this prefix, first seen) | created as `AWAITING_FOR_DOCUMENT`, so success can be tried again with fresh ids |
//! | `proc-document-set` | 400 code 9 `document already set, cannot be modified` |
//! | `proc-expired` | 400 code 9 `process expired` |
//! | `proc-finished` | 400 code 9 `process already finished` |
//! | `proc-not-awaiting-document` | 400 code 9 `process is not awaiting for document` |
//! | `proc-flow-requires-document` | 400 code 9 `flow does not allow optional document` |
//! | `proc-rate-limited` | 429, empty body, no `Retry-After` (the page: only the HTTP status) |
//! | `proc-internal-error` | 500 code 99999 `Internal failure! Try again later` |
//! | blank (`/client/v1/process//document`, `%20`) | 400 code 3 `process id is invalid` |
//! | any other id | 404 code 5 `error getting process: rpc error: code = NotFound desc = process not found` |
//!
//! Create document process (`POST /processes/v1`), by `document.authProcessId` (the biometric
//! process the capture is tied to):
//!
//! | authProcessId | behaviour |
//! |---|---|
//! | `auth-face-match` | 200, `faceMatch: true` |
//! | `auth-face-mismatch` | 200, `faceMatch: false` |
//! | `auth-unknown-type` | 200, `status: 7` and `document.type` `unico.moja.dictionary.br.future.v9.Future` (values the page does not list) |
//! | `auth-jwt-expired` | 400 `10507`, in the documented envelope `{"error":{"code":"10507","description":…}}` |
//! | `auth-jwt-used` | 400 `10508`, in the documented envelope `{"error":{"code":"10508","description":…}}` |
//! | `auth-jwt-invalid` | 400 `10506`, in the documented envelope `{"error":{"code":"10506","description":…}}` |
//! | `auth-process-exists` | 409 `20073`, in the documented envelope (string code, `description`) |
//! | `auth-rate-limited` | 429, empty body, `Retry-After: 2` |
//! | `auth-internal-error` | 500 `99999` |
//! | `auth-async-capture` | 200 status `1`, no document; the process turns final (status `3`, document) on the third `GET /processes/v1/{id}` |
//! | any other non-empty id | as `auth-face-match` |
//!
//! Subjects and documents of the ID API:
//!
//! | value | behaviour |
//! |---|---|
//! | `subject.name` = `Nome Divergente` | the captured document carries another CPF: `cpfMatch: false`, `status: 5` |
//! | `document.documentId` = `doc-seeded-cnh` | a reusable CNH of subject `DUI_TYPE_BR_CPF` `52998224725`; reuse by any other subject answers 400 `99989` |
//! | `document.documentId` = an id returned by an earlier capture | reusable by the same subject (`duiType` and `code`) |

use super::create_document_process::Biometric;
use super::set_process_document::ProcessState;

/// The bearer token accepted by default.
pub const TOKEN: &str = "emulator-token";
/// A bearer token the emulator always treats as expired.
pub const EXPIRED_TOKEN: &str = "emulator-expired-token";
/// The `APIKEY` accepted by default.
pub const API_KEY: &str = "emulator-apikey";
/// A known `APIKEY` that lacks the document capabilities (403 `30017`).
pub const API_KEY_NO_PERMISSION: &str = "emulator-apikey-no-permission";

pub const PROC_AWAITING_DOCUMENT: &str = "proc-awaiting-document";
pub const PROC_DOCUMENT_SET: &str = "proc-document-set";
pub const PROC_EXPIRED: &str = "proc-expired";
pub const PROC_FINISHED: &str = "proc-finished";
pub const PROC_NOT_AWAITING_DOCUMENT: &str = "proc-not-awaiting-document";
pub const PROC_FLOW_REQUIRES_DOCUMENT: &str = "proc-flow-requires-document";
pub const PROC_RATE_LIMITED: &str = "proc-rate-limited";
pub const PROC_INTERNAL_ERROR: &str = "proc-internal-error";
/// Unknown process ids with this prefix are created on first sight, awaiting their document.
pub const AWAITING_PREFIX: &str = "awaiting-";

pub const AUTH_FACE_MATCH: &str = "auth-face-match";
pub const AUTH_FACE_MISMATCH: &str = "auth-face-mismatch";
pub const AUTH_UNKNOWN_TYPE: &str = "auth-unknown-type";
pub const AUTH_JWT_EXPIRED: &str = "auth-jwt-expired";
pub const AUTH_JWT_USED: &str = "auth-jwt-used";
pub const AUTH_JWT_INVALID: &str = "auth-jwt-invalid";
pub const AUTH_PROCESS_EXISTS: &str = "auth-process-exists";
pub const AUTH_RATE_LIMITED: &str = "auth-rate-limited";
pub const AUTH_INTERNAL_ERROR: &str = "auth-internal-error";
pub const AUTH_ASYNC_CAPTURE: &str = "auth-async-capture";
/// `GET /processes/v1/{id}` of this id answers 410 (ended in error or
/// deleted by retention).
pub const DOCUMENT_PROCESS_GONE: &str = "proc-doc-gone";
/// `GET /processes/v1/{id}` of this id answers 429.
pub const DOCUMENT_PROCESS_RATE_LIMITED: &str = "proc-doc-rate-limited";
/// How many reads of an `auth-async-capture` process answer status 1
/// before the final answer.
pub const ASYNC_CAPTURE_PENDING_READS: usize = 2;

/// A subject name for which the emulated capture "reads" another CPF off the document.
pub const DIVERGENT_NAME: &str = "Nome Divergente";

/// A reusable document seeded in every emulator instance.
pub const SEEDED_DOCUMENT_ID: &str = "doc-seeded-cnh";
/// The CPF of the seeded document's owner (valid check digits).
pub const SEEDED_DOCUMENT_CPF: &str = "52998224725";

/// A seeded process id, its starting state and what a caller sees.
#[derive(Debug)]
pub(super) struct ProcessFixture {
    pub(super) id: &'static str,
    pub(super) state: ProcessState,
    pub(super) behaviour: &'static str,
}

pub(super) const PROCESSES: &[ProcessFixture] = &[
    ProcessFixture {
        id: PROC_AWAITING_DOCUMENT,
        state: ProcessState::AwaitingDocument,
        behaviour: "200 and the document is set; later calls: 400 code 9 document already set",
    },
    ProcessFixture {
        id: PROC_DOCUMENT_SET,
        state: ProcessState::DocumentSet,
        behaviour: "400 code 9 document already set, cannot be modified",
    },
    ProcessFixture {
        id: PROC_EXPIRED,
        state: ProcessState::Expired,
        behaviour: "400 code 9 process expired",
    },
    ProcessFixture {
        id: PROC_FINISHED,
        state: ProcessState::Finished,
        behaviour: "400 code 9 process already finished",
    },
    ProcessFixture {
        id: PROC_NOT_AWAITING_DOCUMENT,
        state: ProcessState::NotAwaitingDocument,
        behaviour: "400 code 9 process is not awaiting for document",
    },
    ProcessFixture {
        id: PROC_FLOW_REQUIRES_DOCUMENT,
        state: ProcessState::FlowRequiresDocument,
        behaviour: "400 code 9 flow does not allow optional document",
    },
    ProcessFixture {
        id: PROC_RATE_LIMITED,
        state: ProcessState::RateLimited,
        behaviour: "429, empty body, no Retry-After",
    },
    ProcessFixture {
        id: PROC_INTERNAL_ERROR,
        state: ProcessState::InternalError,
        behaviour: "500 code 99999 Internal failure! Try again later",
    },
];

/// A seeded biometric process id and the outcome of a capture tied to it.
#[derive(Debug)]
pub(super) struct BiometricFixture {
    pub(super) id: &'static str,
    pub(super) outcome: Biometric,
    pub(super) behaviour: &'static str,
}

pub(super) const BIOMETRIC_PROCESSES: &[BiometricFixture] = &[
    BiometricFixture {
        id: AUTH_FACE_MATCH,
        outcome: Biometric::FaceMatch,
        behaviour: "200, faceMatch true (also any unlisted non-empty id)",
    },
    BiometricFixture {
        id: AUTH_FACE_MISMATCH,
        outcome: Biometric::FaceMismatch,
        behaviour: "200, faceMatch false",
    },
    BiometricFixture {
        id: AUTH_UNKNOWN_TYPE,
        outcome: Biometric::UnknownDocumentType,
        behaviour: "200, status 7, document type unico.moja.dictionary.br.future.v9.Future",
    },
    BiometricFixture {
        id: AUTH_JWT_EXPIRED,
        outcome: Biometric::JwtExpired,
        behaviour: "400 10507",
    },
    BiometricFixture {
        id: AUTH_JWT_USED,
        outcome: Biometric::JwtUsed,
        behaviour: "400 10508",
    },
    BiometricFixture {
        id: AUTH_JWT_INVALID,
        outcome: Biometric::JwtInvalid,
        behaviour: "400 10506",
    },
    BiometricFixture {
        id: AUTH_PROCESS_EXISTS,
        outcome: Biometric::ProcessExists,
        behaviour: "409 20073",
    },
    BiometricFixture {
        id: AUTH_RATE_LIMITED,
        outcome: Biometric::RateLimited,
        behaviour: "429, empty body, Retry-After: 2",
    },
    BiometricFixture {
        id: AUTH_INTERNAL_ERROR,
        outcome: Biometric::InternalError,
        behaviour: "500 99999",
    },
    BiometricFixture {
        id: AUTH_ASYNC_CAPTURE,
        outcome: Biometric::AsyncCapture,
        behaviour: "200 status 1 without a document; GET /processes/v1/{id} answers status 1 twice, then status 3 with the document",
    },
];

/// The outcome of a capture tied to `auth_process_id`: unlisted ids succeed with a face match.
pub(super) fn biometric(auth_process_id: &str) -> Biometric {
    BIOMETRIC_PROCESSES
        .iter()
        .find(|fixture| fixture.id == auth_process_id)
        .map_or(Biometric::FaceMatch, |fixture| fixture.outcome)
}

/// Create process (`POST /client/v1/process`): this `flow` answers 400 code 9
/// `XX ID Apikeys are not set`.
pub const FLOW_APIKEYS_NOT_SET: &str = "emulator_apikeys_not_set";
/// This `flow` answers 403 code 7 `no permission`.
pub const FLOW_NO_PERMISSION: &str = "emulator_no_permission";
/// This `flow` answers 500 code 99999.
pub const FLOW_INTERNAL_ERROR: &str = "emulator_internal_error";
