//! unico-facade: a gRPC facade over the vendor's identity REST APIs.
//!
//! Data flows one way: `service` → `validation` → `upstream` → `status`.
//!
//! - [`config`]: typed settings from flags and environment.
//! - [`app`]: binds, then serves the gRPC services, health and reflection.
//! - [`service`]: one thin handler module per gRPC service.
//! - [`validation`]: request → domain values, collecting field violations.
//! - [`domain`]: newtypes parsed at the edge; personal data never prints.
//! - [`contract`]: every contract ↔ domain enum conversion.
//! - [`credentials`]: where upstream credentials come from (pass-through or
//!   the facade's own service account and cached access token).
//! - [`upstream`]: the vendor's REST client, failures classified by phase; no gRPC.
//! - [`status`]: THE table from failures to `tonic::Status` with error details.
//! - [`protocol`]: the gRPC wire rules tonic leaves to the application, and
//!   ErrorInfo on tonic's own answers.
//! - [`idempotency`]: AIP-155 `request_id` on creates: one vendor call per
//!   key, answers stored encrypted and replayed.
//! - [`store`]: the key–value store behind it (embedded, or Redis).
//! - [`concurrency`]: the global limit on concurrent calls, rejecting fast.
//! - [`rate_limit`]: the optional outgoing rate limit, queueing within deadlines:
//!   one budget for every replica in Redis, or a local share.
//! - [`circuit`]: the circuit breaker of each upstream API family.
//! - [`upstream_health`]: per-upstream health statuses, following the circuits.
//! - [`health_check`]: the client side of health, for `unico-facade health`.
//! - [`telemetry`]: logging, OpenTelemetry tracing and propagation, redaction.
//! - [`metrics`]: Prometheus metrics; [`admin`]: the listener serving them.
//! - [`emulator`]: the vendor emulator used by `serve --emulator` and tests.
//! - [`pb`]: generated code and descriptor sets.

pub mod admin;
pub mod app;
pub mod circuit;
pub mod concurrency;
pub mod config;
pub mod contract;
pub mod credentials;
pub mod domain;
pub mod emulator;
pub mod health_check;
pub mod idempotency;
pub mod metrics;
pub mod pb;
pub mod process_events;
pub mod protocol;
pub mod rate_limit;
pub mod service;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod upstream_health;
pub mod validation;
pub mod webhook;
