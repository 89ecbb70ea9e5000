//! `unico.identity.v1.ProcessService`: operations on IDCloud processes.

use tonic::{Request, Response, Status};

use super::{SharedState, call_upstream};
use crate::{
    pb::identity_v1::{
        self as pb, Person, Process, SetProcessDocumentRequest, SetProcessDocumentResponse,
        process_service_server::ProcessService,
    },
    status::{CallContext, FacadeError},
    upstream::{Api, Endpoint, ProcessWithDocument},
    validation,
};

/// Serves `ProcessService`.
#[derive(Debug, Clone)]
pub struct ProcessHandler {
    shared: SharedState,
}

impl ProcessHandler {
    pub fn new(shared: SharedState) -> Self {
        Self { shared }
    }

    async fn set_document(
        &self,
        request: Request<SetProcessDocumentRequest>,
    ) -> Result<SetProcessDocumentResponse, FacadeError> {
        let deadline = self.shared.admit(&request, Api::IdCloud)?;
        let call = validation::set_process_document(request.get_ref())?;
        let (upstream, call) = (&self.shared.upstream, &call);
        let process = call_upstream(
            &self.shared,
            request.metadata(),
            Endpoint::SetProcessDocument,
            CallContext {
                resource_name: Some(call.process_id.to_string()),
                ..CallContext::default()
            },
            deadline,
            |credentials, budget| async move {
                upstream
                    .set_process_document(&credentials, call, budget)
                    .await
            },
        )
        .await?;
        Ok(to_response(process))
    }
}

#[tonic::async_trait]
impl ProcessService for ProcessHandler {
    async fn set_process_document(
        &self,
        request: Request<SetProcessDocumentRequest>,
    ) -> Result<Response<SetProcessDocumentResponse>, Status> {
        let scope = self.shared.begin("SetProcessDocument", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        scope.finish(self.set_document(request).await)
    }
}

fn to_response(process: ProcessWithDocument) -> SetProcessDocumentResponse {
    SetProcessDocumentResponse {
        process: Some(Process {
            id: process.id,
            person: process.person.map(|person| Person {
                dui_type: person
                    .dui_type
                    .known()
                    .map_or(pb::DuiType::Unspecified, pb::DuiType::from)
                    .into(),
                dui_type_name: person.dui_type.0,
                dui_value: person.dui_value.into_exposed(),
            }),
        }),
    }
}
