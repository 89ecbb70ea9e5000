//! Keeps the README's error tables honest: every reason the table emits is
//! documented there with its gRPC code, and the README names no reason the
//! table does not emit.

use std::collections::BTreeSet;

use tonic::Code;

use super::catalogue;

const README: &str = include_str!("../../README.md");

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

/// What the facade emits (local rules without a code: their tables list
/// the rule, the reason and the vendor code instead).
fn emitted() -> Vec<catalogue::Emitted> {
    catalogue::all()
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
    let not_reasons = [
        "PROCESS_STATE",
        "PROCESS_FLOW",
        "SELFIE_JWT",
        "TENANT_CONFIGURATION",
        "UPSTREAM_…",
    ];
    for line in table_lines() {
        for word in reasons_in(line) {
            assert!(
                emitted.contains(word) || not_reasons.contains(&word),
                "the README names {word}, which nothing emits"
            );
        }
    }
}
