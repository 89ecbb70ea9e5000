//! CreateProcess, GetProcess, WatchProcess (IDCloud client API): only the
//! rules `idcloud-process.md` states are checked locally (the friendly
//! name's length, the contact each notification channel needs, the phone's
//! 13-digit form); everything else is forwarded and the vendor's answer
//! mapped, since its sets of flows, purposes and identifier types are open.

use std::time::Duration;

use super::{Collector, InvalidRequest, Rule};
use crate::{
    domain::{Personal, ProcessId},
    pb::identity_v1 as pb,
    upstream::{CreateProcess, JourneySubject},
};

/// `person.friendlyName`: "at most 50 characters".
pub(super) const FRIENDLY_NAME_MAX_CHARS: usize = 50;
/// The phone form the vendor's WhatsApp rule states: 13 digits.
pub(super) const PHONE_DIGITS: usize = 13;

const EMAIL_CHANNEL: &str = "NOTIFICATION_CHANNEL_EMAIL";
const PHONE_CHANNELS: [&str; 2] = ["NOTIFICATION_CHANNEL_WHATSAPP", "NOTIFICATION_CHANNEL_SMS"];

pub fn create_process(request: &pb::CreateProcessRequest) -> Result<CreateProcess, InvalidRequest> {
    let mut errors = Collector::default();
    let person = request.person.as_ref().map(|person| {
        subject(person, &mut errors);
        JourneySubject {
            dui_type: person.dui_type.clone(),
            dui_value: Personal::new(person.dui_value.clone()),
            friendly_name: Personal::new(person.friendly_name.clone()),
            phone: Personal::new(person.phone.clone()),
            email: Personal::new(person.email.clone()),
            notification_channels: person.notification_channels.clone(),
        }
    });
    // A negative duration cannot be sent; the vendor's form is whole seconds.
    let expires_in = request
        .expires_in
        .as_ref()
        .map(|d| Duration::from_secs(u64::try_from(d.seconds).unwrap_or_default()));
    let call = CreateProcess {
        flow: request.flow.clone(),
        purpose: request.purpose.clone(),
        callback_uri: request.callback_uri.clone(),
        person,
        expires_in,
        client_reference: request.client_reference.clone(),
        company_branch_id: request.company_branch_id.clone(),
        use_case: request.use_case.clone(),
        bio_token_id: request.bio_token_id.clone(),
    };
    errors.finish(Some(call))
}

fn subject(person: &pb::ProcessSubject, errors: &mut Collector) {
    if person.friendly_name.chars().count() > FRIENDLY_NAME_MAX_CHARS {
        errors.push(
            "person.friendly_name",
            Rule::FriendlyNameTooLong,
            format!("person.friendly_name must be at most {FRIENDLY_NAME_MAX_CHARS} characters"),
        );
    }
    let channels = &person.notification_channels;
    if let Some(channel) = channels
        .iter()
        .find(|c| PHONE_CHANNELS.contains(&c.as_str()))
    {
        if person.phone.is_empty() {
            errors.push(
                "person.phone",
                Rule::PhoneRequiredByChannel,
                format!("person.phone is required by {channel}"),
            );
        } else if person.phone.len() != PHONE_DIGITS
            || !person.phone.bytes().all(|b| b.is_ascii_digit())
        {
            errors.push(
                "person.phone",
                Rule::PhoneMalformed,
                format!(
                    "person.phone must be {PHONE_DIGITS} digits with the country code and no symbols for {channel}"
                ),
            );
        }
    }
    if channels.iter().any(|c| c == EMAIL_CHANNEL) && person.email.trim().is_empty() {
        errors.push(
            "person.email",
            Rule::EmailRequiredByChannel,
            format!("person.email is required by {EMAIL_CHANNEL}"),
        );
    }
}

/// GetProcess and WatchProcess: the process id, as SetProcessDocument's.
pub fn journey_process_id(raw: &str) -> Result<ProcessId, InvalidRequest> {
    let mut errors = Collector::default();
    let id = errors.process_id(
        raw,
        [
            Rule::ProcessIdMissing,
            Rule::ProcessIdTooLong,
            Rule::ProcessIdMalformed,
        ],
    );
    errors.finish(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(person: pb::ProcessSubject) -> pb::CreateProcessRequest {
        pb::CreateProcessRequest {
            flow: "anything".into(),
            person: Some(person),
            ..Default::default()
        }
    }

    fn rules(result: Result<CreateProcess, InvalidRequest>) -> Vec<(String, Rule)> {
        result
            .err()
            .map(|e| {
                e.violations
                    .into_iter()
                    .map(|v| (v.field, v.rule))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn only_the_pages_rules_are_checked() {
        // Unknown flows, purposes and types, no callback: forwarded.
        assert!(create_process(&pb::CreateProcessRequest::default()).is_ok());
        let ok = pb::ProcessSubject {
            dui_type: "DUI_TYPE_NG_BVN".into(),
            friendly_name: "é".repeat(50),
            phone: "5511999999999".into(),
            email: "a@b.c".into(),
            notification_channels: vec![
                "NOTIFICATION_CHANNEL_WHATSAPP".into(),
                "NOTIFICATION_CHANNEL_EMAIL".into(),
                "NOTIFICATION_CHANNEL_FUTURE".into(),
            ],
            ..Default::default()
        };
        assert!(create_process(&request(ok)).is_ok());
        // A phone in another form without a phone channel: the vendor decides.
        let free = pb::ProcessSubject {
            phone: "+55 11 9999".into(),
            ..Default::default()
        };
        assert!(create_process(&request(free)).is_ok());
    }

    #[test]
    fn each_stated_rule_is_refused_on_its_field() {
        let bad = pb::ProcessSubject {
            friendly_name: "a".repeat(51),
            notification_channels: vec![
                "NOTIFICATION_CHANNEL_SMS".into(),
                "NOTIFICATION_CHANNEL_EMAIL".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            rules(create_process(&request(bad))),
            [
                ("person.friendly_name".to_owned(), Rule::FriendlyNameTooLong),
                ("person.phone".to_owned(), Rule::PhoneRequiredByChannel),
                ("person.email".to_owned(), Rule::EmailRequiredByChannel),
            ]
        );
        let malformed = pb::ProcessSubject {
            phone: "+5511999999999".into(),
            notification_channels: vec!["NOTIFICATION_CHANNEL_WHATSAPP".into()],
            ..Default::default()
        };
        assert_eq!(
            rules(create_process(&request(malformed))),
            [("person.phone".to_owned(), Rule::PhoneMalformed)]
        );
    }
}
