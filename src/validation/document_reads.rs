//! The ID API's reads: ListReusableDocuments (an identifier and a document
//! type) and Get/WatchDocumentProcess (a process id). Only what the pages
//! state is refused here: both query parameters are part of the documented
//! request, the identifier travels "without dots or dashes" as on
//! create-document-process, and a process id must be one URL segment. The
//! identifier's own format is left to the vendor: this request does not say
//! which identifier type it is.

use super::{Collector, FORMATTING_SYMBOLS, InvalidRequest, Rule};
use crate::{
    domain::{DocumentKind, Personal, ProcessId},
    pb::identity_v1 as pb,
    upstream::ListReusableDocuments,
};

pub fn list_reusable_documents(
    request: &pb::ListReusableDocumentsRequest,
) -> Result<ListReusableDocuments, InvalidRequest> {
    let mut errors = Collector::default();
    let code = request.code.as_str();
    if code.trim().is_empty() {
        errors.push("code", Rule::ReusableCodeMissing, "code is required");
    } else if code.contains(FORMATTING_SYMBOLS) {
        errors.push(
            "code",
            Rule::ReusableCodeFormatted,
            "code must not contain formatting symbols (dots, dashes, slashes, spaces); remove them",
        );
    }
    let kind = match pb::DocumentType::try_from(request.document_type) {
        Ok(known) => {
            let kind = DocumentKind::try_from(known).ok();
            if kind.is_none() {
                errors.push(
                    "document_type",
                    Rule::DocumentTypeMissing,
                    "document_type is required: RG, CNH, CIN or PASSAPORTE",
                );
            }
            kind
        }
        Err(_) => {
            errors.push(
                "document_type",
                Rule::DocumentTypeUnknown,
                format!(
                    "document_type {} is not a known DocumentType",
                    request.document_type
                ),
            );
            None
        }
    };
    let call = kind.map(|kind| ListReusableDocuments {
        code: Personal::new(code),
        kind,
    });
    errors.finish(call)
}

/// The process id of GetDocumentProcess and WatchDocumentProcess.
pub fn document_process_id(raw: &str) -> Result<ProcessId, InvalidRequest> {
    let mut errors = Collector::default();
    let id = errors.process_id(
        raw,
        [
            Rule::DocumentProcessIdMissing,
            Rule::DocumentProcessIdTooLong,
            Rule::DocumentProcessIdMalformed,
        ],
    );
    errors.finish(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(code: &str, document_type: i32) -> pb::ListReusableDocumentsRequest {
        pb::ListReusableDocumentsRequest {
            code: code.into(),
            document_type,
        }
    }

    fn rules(result: Result<ListReusableDocuments, InvalidRequest>) -> Vec<(String, Rule)> {
        result
            .unwrap_err()
            .violations
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn an_identifier_and_a_type_make_a_call() {
        let call =
            list_reusable_documents(&request("52998224725", pb::DocumentType::Cnh as i32)).unwrap();
        assert_eq!(call.code.expose(), "52998224725");
        assert_eq!(call.kind, DocumentKind::Cnh);
        // The identifier type is not stated: any unformatted value goes on.
        assert!(list_reusable_documents(&request("ABC123", pb::DocumentType::Rg as i32)).is_ok());
    }

    #[test]
    fn every_missing_or_formatted_field_is_reported_together() {
        assert_eq!(
            rules(list_reusable_documents(&request(" ", 0))),
            vec![
                ("code".to_owned(), Rule::ReusableCodeMissing),
                ("document_type".to_owned(), Rule::DocumentTypeMissing)
            ]
        );
        assert_eq!(
            rules(list_reusable_documents(&request("529.982.247-25", 99))),
            vec![
                ("code".to_owned(), Rule::ReusableCodeFormatted),
                ("document_type".to_owned(), Rule::DocumentTypeUnknown)
            ]
        );
    }

    #[test]
    fn a_process_id_is_one_segment() {
        assert!(document_process_id("27e5c3a0-a708").is_ok());
        for (raw, rule) in [
            ("", Rule::DocumentProcessIdMissing),
            ("..", Rule::DocumentProcessIdMalformed),
            (&"x".repeat(300), Rule::DocumentProcessIdTooLong),
        ] {
            let error = document_process_id(raw).unwrap_err();
            assert_eq!(error.violations[0].rule, rule, "{raw}");
        }
    }
}
