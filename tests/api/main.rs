//! One integration-test binary: the real server on an ephemeral port, a real
//! tonic client, the emulator (or a closed port) as the upstream.

mod circuit_breaker;
mod cli;
mod create_document_process;
mod create_document_process_errors;
mod create_document_process_validation;
mod credentials;
mod document_flow;
mod facade_credentials;
mod fault_matrix;
mod fuzz_corpus;
mod header_limits;
mod health_and_reflection;
mod health_subcommand;
mod helpers;
mod hostile_clients;
mod hostile_process_ids;
mod idempotency;
mod idempotency_redis;
mod mesh;
mod observability;
mod process_flow;
mod rate_budget_redis;
mod redaction;
mod redis_server;
mod responsible_party;
mod set_process_document;
mod set_process_document_errors;
mod set_process_document_validation;
mod shutdown;
mod vendor_judges;
mod webhook_fanout;
mod wire;
