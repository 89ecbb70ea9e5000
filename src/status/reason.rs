//! The contract's `unico.identity.v1.ErrorReason`
//! (`proto/unico/identity/v1/error_reason.proto`) as the status tables use
//! it: [`Reason`], an `ErrorInfo.reason` that is one of the enum's value
//! names, checked when the crate compiles.
//!
//! The tables keep the wire string (greppable against the README and the
//! vendor's pages); [`Reason::known`] is a `const fn` that panics on a name
//! the enum lacks, and every reason is built in a const context (the
//! [`reason!`] macro, the const tables), so that panic is a compile error.
//! The other direction (an enum value nothing emits) is the test in
//! `catalogue`.

use super::LOCAL_RULES;

include!(concat!(env!("OUT_DIR"), "/error_reason_names.rs"));

/// An `ErrorInfo.reason`: always a value name of the contract's ErrorReason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(&'static str);

impl Reason {
    /// The reason named `name`. Panics if the contract's enum has no such
    /// value: called in a const context, that is a compile error.
    pub const fn known(name: &'static str) -> Self {
        let mut i = 0;
        while i < ERROR_REASON_NAMES.len() {
            if same(ERROR_REASON_NAMES[i], name) {
                return Reason(ERROR_REASON_NAMES[i]);
            }
            i += 1;
        }
        panic!("{}", name)
    }

    /// A reason of [`LOCAL_RULES`], every one of which is checked below
    /// when the crate compiles.
    pub(super) const fn of_local_rule(name: &'static str) -> Self {
        Reason(name)
    }

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// Every local rule's reason is a value of the enum (a compile error if not).
const _: () = {
    let mut i = 0;
    while i < LOCAL_RULES.len() {
        Reason::known(LOCAL_RULES[i].1);
        i += 1;
    }
};

/// The [`Reason`] for a literal name, checked at compile time.
macro_rules! reason {
    ($name:literal) => {
        const { $crate::status::reason::Reason::known($name) }
    };
}
pub(crate) use reason;
