//! `unico.identity.v1.DocumentService`: document capture and reuse on the ID API.

use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::{Map, Value};
use tonic::{Request, Response, Status};

use super::{SharedState, call_upstream};
use crate::{
    domain::DocumentKind,
    pb::identity_v1::{
        self as pb, CreateDocumentProcessRequest, CreateDocumentProcessResponse,
        document_service_server::DocumentService,
    },
    status::{CallContext, FacadeError},
    upstream::{Api, Capture, CapturedDocument, DocumentProcess, Endpoint},
    validation,
};

/// Serves `DocumentService`.
#[derive(Debug, Clone)]
pub struct DocumentHandler {
    shared: SharedState,
}

impl DocumentHandler {
    pub fn new(shared: SharedState) -> Self {
        Self { shared }
    }

    async fn create(
        &self,
        request: Request<CreateDocumentProcessRequest>,
    ) -> Result<CreateDocumentProcessResponse, FacadeError> {
        let deadline = self.shared.admit(request.metadata(), Api::Id)?;
        let call =
            validation::create_document_process(request.get_ref(), &self.shared.image_limits)?;
        let (upstream, call) = (&self.shared.upstream, &call);
        let process = call_upstream(
            &self.shared,
            request.metadata(),
            Endpoint::CreateDocumentProcess,
            CallContext {
                resource_name: None,
                // The biometric process is what a selfie-JWT condition is about.
                precondition_subject: Some(call.auth_process_id.clone()),
                reusing_document: matches!(call.capture, Capture::Reuse { .. }),
            },
            deadline,
            |credentials, budget| async move {
                upstream
                    .create_document_process(&credentials, call, budget)
                    .await
            },
        )
        .await?;
        Ok(to_response(process))
    }
}

#[tonic::async_trait]
impl DocumentService for DocumentHandler {
    async fn create_document_process(
        &self,
        request: Request<CreateDocumentProcessRequest>,
    ) -> Result<Response<CreateDocumentProcessResponse>, Status> {
        let scope = self
            .shared
            .begin("CreateDocumentProcess", request.metadata());
        scope.finish(self.create(request).await)
    }
}

fn to_response(process: DocumentProcess) -> CreateDocumentProcessResponse {
    CreateDocumentProcessResponse {
        id: process.id,
        // Proto3 enums are open: an unnamed vendor number travels as is.
        status: process
            .status
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(pb::ProcessStatus::Unspecified as i32),
        document: process.document.map(to_document),
    }
}

fn to_document(document: CapturedDocument) -> pb::Document {
    let kind = DocumentKind::from_upstream(&document.type_name)
        .map_or(pb::DocumentType::Unspecified, pb::DocumentType::from);
    pb::Document {
        id: document.id,
        r#type: kind as i32,
        type_name: document.type_name,
        cpf_match: document.cpf_match,
        face_match: document.face_match,
        content: Some(to_struct(document.content)),
        file_urls: document.file_urls,
    }
}

/// JSON object → `google.protobuf.Struct`, every key and nesting kept.
fn to_struct(object: Map<String, Value>) -> Struct {
    Struct {
        fields: object.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        // Struct numbers are doubles; integers beyond 2^53 lose precision,
        // as in any protobuf JSON mapping.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(to_struct(object)),
    };
    PbValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_keeps_every_key_and_nesting() {
        let content = json!({
            "numero": "12345678", "filiacao": ["A", "B"], "nested": {"x": 1.5, "ok": true, "none": null}
        });
        let s = to_struct(content.as_object().unwrap().clone());
        assert_eq!(
            s.fields["numero"].kind,
            Some(Kind::StringValue("12345678".into()))
        );
        let Some(Kind::ListValue(list)) = &s.fields["filiacao"].kind else {
            panic!("list")
        };
        assert_eq!(list.values.len(), 2);
        let Some(Kind::StructValue(nested)) = &s.fields["nested"].kind else {
            panic!("struct")
        };
        assert_eq!(nested.fields["x"].kind, Some(Kind::NumberValue(1.5)));
        assert_eq!(nested.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(nested.fields["none"].kind, Some(Kind::NullValue(0)));
    }

    #[test]
    fn unknown_type_and_status_survive() {
        let response = to_response(DocumentProcess {
            id: "p".into(),
            status: Some(7),
            document: Some(CapturedDocument {
                id: "d".into(),
                type_name: "unico.moja.dictionary.br.future.v9.Future".into(),
                cpf_match: None,
                face_match: Some(false),
                content: Map::new(),
                file_urls: vec![],
            }),
        });
        assert_eq!(response.status, 7);
        let document = response.document.unwrap();
        assert_eq!(document.r#type, pb::DocumentType::Unspecified as i32);
        assert_eq!(
            document.type_name,
            "unico.moja.dictionary.br.future.v9.Future"
        );
        assert_eq!(document.cpf_match, None);
        assert_eq!(document.face_match, Some(false));
    }
}
