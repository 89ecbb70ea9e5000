//! A journey process (IDCloud) → the contract's `JourneyProcess`: the
//! vendor's state and result names as open enums with their spelling kept,
//! RFC 3339 timestamps as `google.protobuf.Timestamp`, and every field the
//! contract does not model in `unmodelled`.

use std::str::FromStr;

use prost_types::Timestamp;
use serde_json::{Map, Value};

use super::content;
use crate::{
    pb::identity_v1 as pb,
    upstream::{AuthenticationResults, JourneyProcess, JourneySubject},
};

/// The state's number for the vendor's name; UNSPECIFIED for a new name
/// (kept in `state_name`).
fn state(name: &str) -> pb::ProcessState {
    // The awaiting state is named only in prose: both spellings are read.
    match name {
        "AWAITING_FOR_DOCUMENT" => pb::ProcessState::AwaitingForDocument,
        other => pb::ProcessState::from_str_name(other).unwrap_or(pb::ProcessState::Unspecified),
    }
}

fn result(name: &str) -> pb::ProcessResult {
    pb::ProcessResult::from_str_name(name).unwrap_or(pb::ProcessResult::Unspecified)
}

/// Whether a watch of this process is over: the vendor ends a journey
/// FINISHED (whatever its result) or FAILED.
pub(super) fn is_final(process: &pb::JourneyProcess) -> bool {
    matches!(
        pb::ProcessState::try_from(process.state),
        Ok(pb::ProcessState::Finished | pb::ProcessState::Failed)
    )
}

/// A timestamp, or the raw text kept in `unmodelled` under its key.
fn timestamp(
    raw: Option<String>,
    key: &str,
    unmodelled: &mut Map<String, Value>,
) -> Option<Timestamp> {
    let raw = raw?;
    match Timestamp::from_str(&raw) {
        Ok(parsed) => Some(parsed),
        Err(_) => {
            unmodelled.insert(key.to_owned(), Value::String(raw));
            None
        }
    }
}

pub(super) fn to_pb(process: JourneyProcess) -> pb::JourneyProcess {
    let mut unmodelled = process.unmodelled;
    let created_at = timestamp(process.created_at, "createdAt", &mut unmodelled);
    let finished_at = timestamp(process.finished_at, "finishedAt", &mut unmodelled);
    let expires_at = timestamp(process.expires_at, "expiresAt", &mut unmodelled);
    pb::JourneyProcess {
        state: state(&process.state) as i32,
        state_name: process.state,
        result: result(&process.result) as i32,
        result_name: process.result,
        id: process.id,
        flow: process.flow,
        purpose: process.purpose,
        callback_uri: process.callback_uri,
        user_redirect_url: process.user_redirect_url,
        sdk_token: process.sdk_token,
        created_at,
        finished_at,
        expires_at,
        client_reference: process.client_reference,
        use_case: process.use_case,
        capacities: process.capacities,
        person: process.person.map(to_subject),
        authentication_info: process.authentication.map(to_authentication),
        company_branch_id: process.company_branch_id,
        company_country_code: process.company_country_code,
        unmodelled: (!unmodelled.is_empty()).then(|| content::to_struct(unmodelled).value),
    }
}

fn to_subject(person: JourneySubject) -> pb::ProcessSubject {
    pb::ProcessSubject {
        dui_type: person.dui_type,
        dui_value: person.dui_value.into_exposed(),
        friendly_name: person.friendly_name.into_exposed(),
        phone: person.phone.into_exposed(),
        email: person.email.into_exposed(),
        notification_channels: person.notification_channels,
    }
}

fn to_authentication(info: AuthenticationResults) -> pb::AuthenticationInfo {
    pb::AuthenticationInfo {
        authentication_id: info.authentication_id,
        liveness_result: info.liveness_result,
        authentication_result: info.authentication_result,
        identity_fraudsters_result: info.identity_fraudsters_result,
        bio_token_engine_result: info.bio_token_engine_result,
        smart_revalidation_result: info.smart_revalidation_result,
        id_age_result: info.id_age_result,
        score_enabled: info.score_enabled,
        score: info.score,
        serpro_score: info.serpro_score,
        unmodelled: (!info.unmodelled.is_empty())
            .then(|| content::to_struct(info.unmodelled).value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_open_enums_and_bad_timestamps_are_kept() {
        let process = to_pb(JourneyProcess {
            id: "p".into(),
            state: "PROCESS_STATE_SOMETHING_NEW".into(),
            result: "PROCESS_RESULT_INVALID_IDENTITY".into(),
            created_at: Some("2026-01-02T03:04:05.5Z".into()),
            finished_at: Some("yesterday".into()),
            ..JourneyProcess::default()
        });
        assert_eq!(process.state, pb::ProcessState::Unspecified as i32);
        assert_eq!(process.state_name, "PROCESS_STATE_SOMETHING_NEW");
        assert_eq!(process.result, pb::ProcessResult::InvalidIdentity as i32);
        assert_eq!(process.created_at.unwrap().nanos, 500_000_000);
        assert!(process.finished_at.is_none());
        assert!(
            process
                .unmodelled
                .unwrap()
                .fields
                .contains_key("finishedAt")
        );
        for (name, expected) in [
            (
                "AWAITING_FOR_DOCUMENT",
                pb::ProcessState::AwaitingForDocument,
            ),
            (
                "PROCESS_STATE_AWAITING_FOR_DOCUMENT",
                pb::ProcessState::AwaitingForDocument,
            ),
            ("PROCESS_STATE_FINISHED", pb::ProcessState::Finished),
        ] {
            assert_eq!(state(name), expected);
        }
    }
}
