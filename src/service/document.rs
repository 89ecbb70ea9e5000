//! `unico.identity.v1.DocumentService`: document capture and reuse on the ID API.

use tonic::{Request, Response, Status};

use super::SharedState;
use crate::pb::identity_v1::{
    CreateDocumentProcessRequest, CreateDocumentProcessResponse,
    document_service_server::DocumentService,
};

/// Serves `DocumentService`.
#[derive(Debug, Clone)]
pub struct DocumentHandler {
    #[allow(dead_code)]
    shared: SharedState,
}

impl DocumentHandler {
    pub fn new(shared: SharedState) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl DocumentService for DocumentHandler {
    async fn create_document_process(
        &self,
        _request: Request<CreateDocumentProcessRequest>,
    ) -> Result<Response<CreateDocumentProcessResponse>, Status> {
        Err(Status::unimplemented(
            "CreateDocumentProcess is not served by this build yet",
        ))
    }
}
