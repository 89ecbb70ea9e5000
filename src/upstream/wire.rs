//! The JSON bodies exactly as the vendor's reference pages show them. Private
//! to the upstream client: the rest of the crate sees domain types.

use serde::{Deserialize, Serialize};

/// `POST /client/v1/process/{processId}/document` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetProcessDocumentBody<'a> {
    pub dui_type: &'a str,
    pub dui_value: &'a str,
}

/// `POST /client/v1/process/{processId}/document` 200 body. Unknown fields
/// are ignored: the vendor may add some at any time.
#[derive(Deserialize)]
pub(crate) struct SetProcessDocumentReply {
    pub process: ProcessBody,
}

#[derive(Deserialize)]
pub(crate) struct ProcessBody {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub person: Option<PersonBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonBody {
    #[serde(default)]
    pub dui_type: String,
    #[serde(default)]
    pub dui_value: String,
}

/// `POST /processes/v1` 200 body. Every field is optional so that a partial
/// answer (a failed process without a document) still parses; unknown
/// fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDocumentProcessReply {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    #[serde(default)]
    pub document: Option<CapturedDocumentBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CapturedDocumentBody {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub cpf_match: Option<bool>,
    #[serde(default)]
    pub face_match: Option<bool>,
    #[serde(default)]
    pub content: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub file_urls: Vec<String>,
}

impl CreateDocumentProcessReply {
    pub fn into_domain(self) -> super::DocumentProcess {
        // The status is an integer on the page; a numeric string is read too.
        let status = match self.status {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        super::DocumentProcess {
            id: self.id,
            status,
            document: self.document.map(|d| super::CapturedDocument {
                id: d.id,
                type_name: d.type_name,
                cpf_match: d.cpf_match,
                face_match: d.face_match,
                content: d.content.unwrap_or_default(),
                file_urls: d.file_urls,
            }),
        }
    }
}
