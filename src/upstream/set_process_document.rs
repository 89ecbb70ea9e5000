//! `POST /client/v1/process/{processId}/document` on the IDCloud client API:
//! sets the identity document on a process awaiting one.

use serde::{Deserialize, Serialize};

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::{encode_segment, endpoint_url},
    success_body::{self, Object, SuccessBody},
};
use crate::domain::{DuiType, DuiTypeName, Personal, ProcessId};

/// A validated set-process-document call.
#[derive(Debug, Clone)]
pub struct SetProcessDocument {
    pub process_id: ProcessId,
    pub dui_type: DuiType,
    pub dui_value: Personal,
}

/// The process as the vendor reports it after the document was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessWithDocument {
    pub id: String,
    pub person: Option<DocumentOnProcess>,
}

/// The document now set on the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentOnProcess {
    pub dui_type: DuiTypeName,
    pub dui_value: Personal,
}

impl UpstreamClient {
    pub async fn set_process_document(
        &self,
        credentials: &UpstreamCredentials,
        call: &SetProcessDocument,
        budget: std::time::Duration,
    ) -> Result<ProcessWithDocument, UpstreamError> {
        let encoded_id = encode_segment(call.process_id.as_str());
        let path = format!("/client/v1/process/{encoded_id}/document");
        let url = endpoint_url(self.hosts().idcloud_api(), &path)
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        let body = serde_json::to_vec(&SetProcessDocumentBody {
            dui_type: call.dui_type.as_upstream(),
            dui_value: call.dui_value.expose(),
        })
        .map_err(|e| UpstreamError::BuildRequest {
            detail: e.to_string(),
        })?;
        let reply: SetProcessDocumentReply = self
            .post_json(Endpoint::SetProcessDocument, url, credentials, body, budget)
            .await?;
        Ok(reply.into_domain())
    }
}

// The JSON bodies exactly as the reference page shows them.

/// `POST /client/v1/process/{processId}/document` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetProcessDocumentBody<'a> {
    dui_type: &'a str,
    dui_value: &'a str,
}

/// `POST /client/v1/process/{processId}/document` 200 body. A success
/// needs the process and its id; the person (what was set) may be absent or
/// null, and its fields empty, but not of another type. Unknown fields are
/// ignored: the vendor may add some at any time.
#[derive(Deserialize)]
struct SetProcessDocumentReply {
    process: Object<ProcessBody>,
}

#[derive(Deserialize)]
struct ProcessBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    person: Option<Object<PersonBody>>,
}

impl SuccessBody for SetProcessDocumentReply {
    fn missing(&self) -> Option<&'static str> {
        self.process.0.id.trim().is_empty().then_some("process.id")
    }
}

/// Decodes a 200 body the way a call does (for tests and fuzzing); the
/// error says where the body fails, never what it holds.
pub fn parse_reply(body: &[u8]) -> Result<ProcessWithDocument, String> {
    success_body::decode::<SetProcessDocumentReply>(body).map(SetProcessDocumentReply::into_domain)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonBody {
    #[serde(default)]
    dui_type: Option<String>,
    #[serde(default)]
    dui_value: Option<String>,
}

impl SetProcessDocumentReply {
    fn into_domain(self) -> ProcessWithDocument {
        let Object(process) = self.process;
        ProcessWithDocument {
            id: process.id,
            person: process.person.map(|Object(p)| DocumentOnProcess {
                dui_type: DuiTypeName(p.dui_type.unwrap_or_default()),
                dui_value: Personal::new(p.dui_value.unwrap_or_default()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_has_the_process_and_its_id() {
        let ok = parse_reply(
            br#"{"process":{"id":"p-1","person":{"duiType":"DUI_TYPE_BR_CPF","duiValue":"1"}}}"#,
        )
        .unwrap();
        assert_eq!(ok.id, "p-1");
        assert_eq!(ok.person.unwrap().dui_type.0, "DUI_TYPE_BR_CPF");
        // What the vendor may add or leave out.
        let tolerated = [
            &br#"{"process":{"id":"p-1"}}"#[..],
            br#"{"process":{"id":"p-1","person":null}}"#,
            br#"{"process":{"id":"p-1","person":{}}}"#,
            br#"{"process":{"id":"p-1","person":{"duiType":null}}}"#,
            br#"{"process":{"id":"p-1","state":"NEW","person":{"duiType":"DUI_TYPE_XX_FUTURE"}},"more":[1]}"#,
        ];
        for body in tolerated {
            assert!(
                parse_reply(body).is_ok(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn empty_or_other_shapes_are_not_a_success() {
        let refused = [
            &br#"{}"#[..],
            br#"[]"#,
            br#"[{"id":"p-1"}]"#,
            br#"{"process":[{"id":"p-1"}]}"#,
            br#"{"process":["p-1", null]}"#,
            br#"{"process":{}}"#,
            br#"{"process":{"id":""}}"#,
            br#"{"process":{"id":"  "}}"#,
            br#"{"process":{"id":null}}"#,
            br#"{"process":{"id":7}}"#,
            br#"{"process":{"id":"p-1","person":["DUI_TYPE_BR_CPF","1"]}}"#,
            br#"{"process":{"id":"p-1","person":{"duiValue":52998224725}}}"#,
            br#"{"process":null}"#,
            br#"null"#,
            b"",
        ];
        for body in refused {
            assert!(
                parse_reply(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_reply(br#"{"process":{"id":""}}"#).unwrap_err(),
            "process.id missing or empty"
        );
    }
}
