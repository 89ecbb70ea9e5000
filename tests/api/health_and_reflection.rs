//! gRPC health per service, and server reflection (v1 and v1alpha) that lets
//! grpcurl and `buf curl` list, describe and decode error details.

use prost::Message;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::spawn_app;

const SERVICES: [&str; 2] = [
    "unico.identity.v1.ProcessService",
    "unico.identity.v1.DocumentService",
];

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", SERVICES[0], SERVICES[1]] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{service:?}: {s:?}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

async fn reflect_v1(
    app: &crate::helpers::TestApp,
    request: v1::server_reflection_request::MessageRequest,
) -> v1::server_reflection_response::MessageResponse {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let outbound = tokio_stream::iter([v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .unwrap()
        .into_inner();
    inbound
        .message()
        .await
        .unwrap()
        .and_then(|r| r.message_response)
        .expect("a reflection answer")
}

#[tokio::test]
async fn reflection_v1_lists_both_services() {
    let app = spawn_app().await;

    let answer = reflect_v1(
        &app,
        v1::server_reflection_request::MessageRequest::ListServices(String::new()),
    )
    .await;

    let v1::server_reflection_response::MessageResponse::ListServicesResponse(list) = answer else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_both_services_for_older_grpcurl() {
    let app = spawn_app().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let outbound = tokio_stream::iter([v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    }]);

    let answer = client
        .server_reflection_info(outbound)
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .and_then(|r| r.message_response)
        .unwrap();

    let v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list) = answer
    else {
        panic!("not a service list");
    };
    for service in SERVICES {
        assert!(list.service.iter().any(|s| s.name == service), "{service}");
    }
}

#[tokio::test]
async fn reflection_describes_the_contract_with_comments_and_the_error_details() {
    let app = spawn_app().await;
    for symbol in [
        "unico.identity.v1.ProcessService",
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
    ] {
        let answer = reflect_v1(
            &app,
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()),
        )
        .await;
        let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = answer
        else {
            panic!("{symbol} not resolved: {answer:?}");
        };
        let file =
            prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
                .unwrap();
        if symbol.starts_with("unico") {
            let comments = file.source_code_info.unwrap().location;
            assert!(
                comments
                    .iter()
                    .any(|l| l.leading_comments().contains("SetProcessDocument sets")),
                "grpcurl describe shows the proto comments"
            );
        }
    }
}
