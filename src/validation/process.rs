//! SetProcessDocument: the process id, and an identifier of one of the three
//! types the IDCloud endpoint accepts, without formatting symbols.

use super::{Collector, FORMATTING_SYMBOLS, InvalidRequest, Rule};
use crate::{
    domain::{DuiType, Personal},
    pb::identity_v1 as pb,
    upstream::SetProcessDocument,
};

/// The longest `duiValue` the IDCloud API accepts (set-process-document page).
pub const DUI_VALUE_MAX_CHARS: usize = 320;

/// The three types the set-process-document page accepts.
const SET_DOCUMENT_TYPES: [DuiType; 3] = [DuiType::BrCpf, DuiType::MxCurp, DuiType::UsSsn];

pub fn set_process_document(
    request: &pb::SetProcessDocumentRequest,
) -> Result<SetProcessDocument, InvalidRequest> {
    let mut errors = Collector::default();

    let process_id = errors.process_id(
        &request.process_id,
        [
            Rule::ProcessIdMissing,
            Rule::ProcessIdTooLong,
            Rule::ProcessIdMalformed,
        ],
    );

    let dui_type = match pb::DuiType::try_from(request.dui_type) {
        Ok(pb::DuiType::Unspecified) => {
            errors.push("dui_type", Rule::DuiTypeMissing, "dui_type is required");
            None
        }
        Ok(known) => {
            let dui_type = DuiType::try_from(known).ok();
            if dui_type.is_some_and(|t| SET_DOCUMENT_TYPES.contains(&t)) {
                dui_type
            } else {
                errors.push(
                    "dui_type",
                    Rule::DuiTypeNotAccepted,
                    "dui_type must be DUI_TYPE_BR_CPF, DUI_TYPE_MX_CURP or DUI_TYPE_US_SSN for this operation",
                );
                None
            }
        }
        Err(_) => {
            errors.push(
                "dui_type",
                Rule::DuiTypeUnknown,
                format!("dui_type {} is not a known DuiType", request.dui_type),
            );
            None
        }
    };

    let dui_value = &request.dui_value;
    if dui_value.trim().is_empty() {
        errors.push("dui_value", Rule::DuiValueMissing, "dui_value is required");
    } else if dui_value.chars().count() > DUI_VALUE_MAX_CHARS {
        errors.push(
            "dui_value",
            Rule::DuiValueTooLong,
            format!("dui_value must be at most {DUI_VALUE_MAX_CHARS} characters"),
        );
    } else if dui_value.contains(FORMATTING_SYMBOLS) {
        errors.push(
            "dui_value",
            Rule::DuiValueFormatted,
            "dui_value must not contain formatting symbols (dots, dashes, slashes, spaces); remove them",
        );
    }

    let call = process_id
        .zip(dui_type)
        .map(|(process_id, dui_type)| SetProcessDocument {
            process_id,
            dui_type,
            dui_value: Personal::new(dui_value.clone()),
        });
    errors.finish(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(process_id: &str, dui_type: i32, dui_value: &str) -> pb::SetProcessDocumentRequest {
        pb::SetProcessDocumentRequest {
            process_id: process_id.into(),
            dui_type,
            dui_value: dui_value.into(),
        }
    }

    fn rules(result: Result<SetProcessDocument, InvalidRequest>) -> Vec<(String, Rule)> {
        result
            .unwrap_err()
            .violations
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn a_valid_request_becomes_a_call() {
        let call = set_process_document(&request("p-1", 1, "52998224725")).unwrap();
        assert_eq!(call.process_id.as_str(), "p-1");
        assert_eq!(call.dui_type, DuiType::BrCpf);
        assert_eq!(call.dui_value.expose(), "52998224725");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cpf = pb::DuiType::BrCpf as i32;
        let long = "9".repeat(DUI_VALUE_MAX_CHARS + 1);
        let cases: Vec<(pb::SetProcessDocumentRequest, (&str, Rule))> = vec![
            (
                request("", cpf, "1"),
                ("process_id", Rule::ProcessIdMissing),
            ),
            (
                request(&"p".repeat(10_000), cpf, "1"),
                ("process_id", Rule::ProcessIdTooLong),
            ),
            (
                request("..", cpf, "1"),
                ("process_id", Rule::ProcessIdMalformed),
            ),
            (request("p", 0, "1"), ("dui_type", Rule::DuiTypeMissing)),
            (request("p", 99, "1"), ("dui_type", Rule::DuiTypeUnknown)),
            (
                request("p", pb::DuiType::NgNin as i32, "1"),
                ("dui_type", Rule::DuiTypeNotAccepted),
            ),
            (request("p", cpf, ""), ("dui_value", Rule::DuiValueMissing)),
            (
                request("p", cpf, &long),
                ("dui_value", Rule::DuiValueTooLong),
            ),
            (
                request("p", cpf, "529.982.247-25"),
                ("dui_value", Rule::DuiValueFormatted),
            ),
        ];
        for (req, expected) in cases {
            assert_eq!(
                rules(set_process_document(&req)),
                vec![(expected.0.to_owned(), expected.1)]
            );
        }
        assert!(set_process_document(&request("p", cpf, &"9".repeat(DUI_VALUE_MAX_CHARS))).is_ok());
    }

    #[test]
    fn several_violations_are_reported_together_in_field_order() {
        assert_eq!(
            rules(set_process_document(&request("", 0, ""))),
            [
                ("process_id", Rule::ProcessIdMissing),
                ("dui_type", Rule::DuiTypeMissing),
                ("dui_value", Rule::DuiValueMissing),
            ]
            .map(|(field, rule)| (field.to_owned(), rule))
        );
    }

    #[test]
    fn descriptions_never_quote_the_value() {
        let err = set_process_document(&request("p", 1, "529.982.247-25")).unwrap_err();
        assert!(
            err.violations
                .iter()
                .all(|v| !v.description.contains("529"))
        );
    }
}
