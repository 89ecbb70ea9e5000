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
