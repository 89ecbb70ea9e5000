//! `GET /documents/v1?code=…&type=…` on the ID API ("get reusable
//! documents"): the documents of a person that a document process can reuse
//! instead of capturing new images. Partly documented
//! (`shared/upstream/more-endpoints.md`): an empty list arrives both as
//! `{"items":[]}` and as `{"items":[{}]}`, so an item without a
//! `documentId` is no document, never an error.

use serde::Deserialize;

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::endpoint_url,
    success_body::{Object, SuccessBody},
};
use crate::domain::{DocumentKind, Personal};

/// A validated list-reusable-documents call.
#[derive(Debug, Clone)]
pub struct ListReusableDocuments {
    /// The person's identifier (personal data: it travels in the query
    /// string, which is never logged or put in a span).
    pub code: Personal,
    pub kind: DocumentKind,
}

/// One reusable document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReusableDocument {
    pub id: String,
    /// The type exactly as the vendor spelled it (may be empty).
    pub type_name: String,
}

impl UpstreamClient {
    pub async fn list_reusable_documents(
        &self,
        credentials: &UpstreamCredentials,
        call: &ListReusableDocuments,
        budget: std::time::Duration,
    ) -> Result<Vec<ReusableDocument>, UpstreamError> {
        let mut url = endpoint_url(self.hosts().id_api(), "/documents/v1")
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        url.query_pairs_mut()
            .append_pair("code", call.code.expose())
            .append_pair("type", call.kind.as_query());
        let reply: ListReply = self
            .get_json(Endpoint::ListReusableDocuments, url, credentials, budget)
            .await?;
        Ok(reply.into_domain())
    }
}

/// The 200 body: `items`, a list of objects (possibly empty, or of empty
/// objects); an answer without it is no list at all. Unknown fields are
/// ignored.
#[derive(Deserialize)]
struct ListReply {
    items: Vec<Object<ItemBody>>,
}

impl SuccessBody for ListReply {
    fn missing(&self) -> Option<&'static str> {
        None
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemBody {
    #[serde(default)]
    document_id: Option<String>,
    #[serde(default)]
    document_type: Option<String>,
}

impl ListReply {
    fn into_domain(self) -> Vec<ReusableDocument> {
        self.items
            .into_iter()
            .filter_map(|Object(item)| {
                let id = item.document_id.filter(|id| !id.trim().is_empty())?;
                Some(ReusableDocument {
                    id,
                    type_name: item.document_type.unwrap_or_default(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Vec<ReusableDocument> {
        crate::upstream::success_body::decode::<ListReply>(body.as_bytes())
            .unwrap()
            .into_domain()
    }

    #[test]
    fn other_shapes_are_no_list() {
        for body in [
            r#"{}"#,
            r#"[]"#,
            r#"{"items":null}"#,
            r#"{"items":[["d-1"]]}"#,
            r#"{"items":{}}"#,
        ] {
            assert!(
                crate::upstream::success_body::decode::<ListReply>(body.as_bytes()).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn both_documented_empty_answers_are_no_documents() {
        assert!(parse(r#"{"items":[]}"#).is_empty());
        assert!(parse(r#"{"items":[{}]}"#).is_empty());
        assert!(parse(r#"{"items":[{"documentType":"CNH","documentId":""}]}"#).is_empty());
    }

    #[test]
    fn items_keep_the_vendors_type_name() {
        let documents = parse(
            r#"{"items":[{"documentType":"unico.moja.dictionary.br.cnh.v2.Cnh","documentId":"d-1","extra":1},{}]}"#,
        );
        assert_eq!(
            documents,
            vec![ReusableDocument {
                id: "d-1".into(),
                type_name: "unico.moja.dictionary.br.cnh.v2.Cnh".into()
            }]
        );
    }
}
