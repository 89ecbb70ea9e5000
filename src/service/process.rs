//! `unico.identity.v1.ProcessService`: operations on IDCloud processes.

use tonic::{Request, Response, Status, metadata::MetadataMap};

use super::{Shared, SharedState, WatchStream, call_upstream, journey, watch};
use crate::{
    domain::ProcessId,
    pb::identity_v1::{
        self as pb, CreateProcessRequest, CreateProcessResponse, GetProcessRequest,
        GetProcessResponse, Person, Process, SetProcessDocumentRequest, SetProcessDocumentResponse,
        WatchProcessRequest, WatchProcessResponse, process_service_server::ProcessService,
    },
    status::{CallContext, FacadeError},
    upstream::{Api, Endpoint, JourneyProcess, ProcessWithDocument},
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

impl ProcessHandler {
    async fn create(
        &self,
        request: Request<CreateProcessRequest>,
    ) -> Result<CreateProcessResponse, FacadeError> {
        let deadline = self.shared.admit(&request, Api::IdCloud)?;
        let call = validation::create_process(request.get_ref())?;
        let (upstream, call) = (&self.shared.upstream, &call);
        let process = call_upstream(
            &self.shared,
            request.metadata(),
            Endpoint::CreateProcess,
            CallContext::default(),
            deadline,
            |credentials, budget| async move {
                upstream.create_process(&credentials, call, budget).await
            },
        )
        .await?;
        Ok(CreateProcessResponse {
            process: Some(journey::to_pb(process)),
        })
    }

    async fn get(
        &self,
        request: Request<GetProcessRequest>,
    ) -> Result<GetProcessResponse, FacadeError> {
        let deadline = self.shared.admit(&request, Api::IdCloud)?;
        let process_id = validation::journey_process_id(&request.get_ref().process_id)?;
        let process = read_process(&self.shared, request.metadata(), &process_id, deadline).await?;
        Ok(GetProcessResponse {
            process: Some(journey::to_pb(process)),
        })
    }
}

/// One read of a journey process, as GetProcess and each step of
/// WatchProcess make it.
async fn read_process(
    shared: &Shared,
    metadata: &MetadataMap,
    process_id: &ProcessId,
    deadline: impl Into<super::CallDeadline>,
) -> Result<JourneyProcess, FacadeError> {
    let upstream = &shared.upstream;
    call_upstream(
        shared,
        metadata,
        Endpoint::GetProcess,
        CallContext {
            resource_name: Some(process_id.to_string()),
            ..CallContext::default()
        },
        deadline,
        |credentials, budget| async move {
            upstream.get_process(&credentials, process_id, budget).await
        },
    )
    .await
}

#[tonic::async_trait]
impl ProcessService for ProcessHandler {
    async fn create_process(
        &self,
        request: Request<CreateProcessRequest>,
    ) -> Result<Response<CreateProcessResponse>, Status> {
        let scope = self.shared.begin("CreateProcess", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        scope.finish(self.create(request).await)
    }

    async fn get_process(
        &self,
        request: Request<GetProcessRequest>,
    ) -> Result<Response<GetProcessResponse>, Status> {
        let scope = self.shared.begin("GetProcess", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        scope.finish(self.get(request).await)
    }

    type WatchProcessStream = WatchStream<WatchProcessResponse>;

    async fn watch_process(
        &self,
        request: Request<WatchProcessRequest>,
    ) -> Result<Response<Self::WatchProcessStream>, Status> {
        let scope = self.shared.begin("WatchProcess", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        let shared = self.shared.clone();
        // Refusals come before the stream starts, as a unary call's would.
        let deadline = shared
            .admit_within(&request, Api::IdCloud, shared.watch.timeout)
            .map_err(|error| scope.close_with(&error.into()))?;
        let process_id = validation::journey_process_id(&request.get_ref().process_id)
            .map_err(|error| scope.close_with(&error.into()))?;
        let metadata = request.metadata().clone();
        let response = scope.respond(());
        let events = shared.process_events.clone();
        let watch_settings = shared.watch;
        let read_id = process_id.clone();
        let read = move || {
            let (shared, metadata, process_id) =
                (shared.clone(), metadata.clone(), read_id.clone());
            async move {
                let process = read_process(&shared, &metadata, &process_id, deadline).await?;
                Ok(WatchProcessResponse {
                    process: Some(journey::to_pb(process)),
                })
            }
        };
        let is_final =
            |state: &WatchProcessResponse| state.process.as_ref().is_some_and(journey::is_final);
        // Subscribed before the first read: a webhook that arrives between
        // that read and the wait still wakes the watch.
        let stream = match events {
            Some(events) => watch::spawn(
                scope,
                deadline,
                watch_settings.fallback(),
                events.subscribe(process_id.as_str()),
                read,
                is_final,
            ),
            None => watch::spawn(
                scope,
                deadline,
                watch_settings.backoff(),
                watch::TimerOnly,
                read,
                is_final,
            ),
        };
        let (metadata, (), extensions) = response.into_parts();
        Ok(Response::from_parts(metadata, stream, extensions))
    }

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
