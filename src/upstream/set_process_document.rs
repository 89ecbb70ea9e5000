//! `POST /client/v1/process/{processId}/document` on the IDCloud client API:
//! sets the identity document on a process awaiting one.

use serde::{Deserialize, Serialize};

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::{encode_segment, endpoint_url},
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

/// `POST /client/v1/process/{processId}/document` 200 body. Unknown fields
/// are ignored: the vendor may add some at any time.
#[derive(Deserialize)]
struct SetProcessDocumentReply {
    process: ProcessBody,
}

#[derive(Deserialize)]
struct ProcessBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    person: Option<PersonBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonBody {
    #[serde(default)]
    dui_type: String,
    #[serde(default)]
    dui_value: String,
}

impl SetProcessDocumentReply {
    fn into_domain(self) -> ProcessWithDocument {
        ProcessWithDocument {
            id: self.process.id,
            person: self.process.person.map(|p| DocumentOnProcess {
                dui_type: DuiTypeName(p.dui_type),
                dui_value: Personal::new(p.dui_value),
            }),
        }
    }
}
