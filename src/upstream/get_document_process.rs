//! `GET /processes/v1/{processId}` on the ID API: a document process read
//! again, until its status is final. Partly documented
//! (`shared/upstream/more-endpoints.md`): the answer is assumed to have the
//! shape of create-document-process's 200 (`id`, `status`, `document`), the
//! document absent while the capture is processing.

use super::{
    client::UpstreamClient,
    create_document_process::{CreateDocumentProcessReply, DocumentProcess},
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::{encode_segment, endpoint_url},
};
use crate::domain::ProcessId;

impl UpstreamClient {
    pub async fn get_document_process(
        &self,
        credentials: &UpstreamCredentials,
        process_id: &ProcessId,
        budget: std::time::Duration,
    ) -> Result<DocumentProcess, UpstreamError> {
        let path = format!("/processes/v1/{}", encode_segment(process_id.as_str()));
        let url = endpoint_url(self.hosts().id_api(), &path)
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        let reply: CreateDocumentProcessReply = self
            .get_json(Endpoint::GetDocumentProcess, url, credentials, budget)
            .await?;
        Ok(reply.into_domain())
    }
}
