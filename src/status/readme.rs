//! Keeps the README's error tables honest: every reason the table emits is
//! documented there with its gRPC code, and the README names no reason the
//! table does not emit.

use std::collections::BTreeSet;

use tonic::Code;

use super::{LOCAL_RULES, ServerError, VENDOR_ROWS, server};

const README: &str = include_str!("../../README.md");

/// Local rules are INVALID_ARGUMENT by construction: their tables list the
/// rule, the reason and the vendor code instead.
///
/// Reasons emitted outside the two tables (limits, credentials, transport,
/// the opaque fallback), with their codes.
const OTHER_REASONS: &[(&str, Code)] = &[
    ("UPSTREAM_UNREACHABLE", Code::Unavailable),
    ("UPSTREAM_CONNECTION_LOST", Code::Unavailable),
    ("UPSTREAM_CIRCUIT_OPEN", Code::Unavailable),
    ("UPSTREAM_TIMEOUT", Code::DeadlineExceeded),
    ("UPSTREAM_RESPONSE_UNPARSEABLE", Code::Internal),
    ("UPSTREAM_REQUEST_NOT_BUILT", Code::Internal),
    ("UPSTREAM_UNEXPECTED_ANSWER", Code::Unknown),
    ("UPSTREAM_CREDENTIALS_REJECTED", Code::Internal),
    ("UPSTREAM_TENANT_MISCONFIGURED", Code::Internal),
    ("REQUEST_TOO_LARGE", Code::ResourceExhausted),
    ("OVERLOADED", Code::ResourceExhausted),
    ("UPSTREAM_RATE_LIMIT_QUEUE_FULL", Code::ResourceExhausted),
    ("UPSTREAM_TOKEN_UNAVAILABLE", Code::Unavailable),
    ("UPSTREAM_TOKEN_TIMEOUT", Code::DeadlineExceeded),
    ("UPSTREAM_TOKEN_UNUSABLE", Code::Internal),
    ("SERVICE_ACCOUNT_KEY_UNUSABLE", Code::Internal),
    ("CREDENTIALS_MISSING", Code::Unauthenticated),
    ("CREDENTIALS_MALFORMED", Code::Unauthenticated),
    ("PROCESS_NOT_FINAL", Code::DeadlineExceeded),
];

/// `google.rpc.Code` names as the README spells them.
fn code_name(code: Code) -> String {
    let debug = format!("{code:?}");
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The README's table rows (lines starting with `|`) of the Errors section.
fn table_lines() -> Vec<&'static str> {
    let start = README.find("\n## Errors").expect("an Errors section");
    let rest = &README[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].lines().filter(|l| l.starts_with('|')).collect()
}

/// Backticked UPPER_SNAKE words in a line.
fn reasons_in(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2).filter(|w| {
        w.len() > 3 && w.contains('_') && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    })
}

fn emitted() -> Vec<(&'static str, Option<Code>)> {
    let vendor = VENDOR_ROWS.iter().map(|r| (r.reason, Some(r.code)));
    let local = LOCAL_RULES.iter().map(|(_, reason, ..)| (*reason, None));
    let other = OTHER_REASONS.iter().map(|(r, c)| (*r, Some(*c)));
    // An unclassified answer keeps tonic's code, whatever it is.
    let server = server::ALL.iter().map(|e| match e {
        ServerError::Unclassified { .. } => (e.reason(), None),
        e => (e.reason(), Some(e.code())),
    });
    let idempotency = super::idempotency::REASONS
        .iter()
        .map(|(r, c)| (*r, Some(*c)));
    vendor
        .chain(local)
        .chain(other)
        .chain(server)
        .chain(idempotency)
        .collect()
}

#[test]
fn every_emitted_reason_is_in_a_readme_table_with_its_code() {
    let lines = table_lines();
    for (reason, code) in emitted() {
        let quoted = format!("`{reason}`");
        let rows: Vec<_> = lines.iter().filter(|l| l.contains(&quoted)).collect();
        assert!(
            !rows.is_empty(),
            "{reason} is not in the README's error tables"
        );
        if let Some(code) = code {
            let name = code_name(code);
            assert!(
                rows.iter().any(|l| l.contains(&name)),
                "{reason}: no README row gives {name}"
            );
        }
    }
}

#[test]
fn the_readme_tables_name_no_reason_the_facade_does_not_emit() {
    let emitted: BTreeSet<&str> = emitted().into_iter().map(|(r, _)| r).collect();
    // Words in the tables that are not reasons: detail types and values.
    let not_reasons = ["PROCESS_STATE", "PROCESS_FLOW", "SELFIE_JWT", "UPSTREAM_…"];
    for line in table_lines() {
        for word in reasons_in(line) {
            assert!(
                emitted.contains(word) || not_reasons.contains(&word),
                "the README names {word}, which nothing emits"
            );
        }
    }
}
