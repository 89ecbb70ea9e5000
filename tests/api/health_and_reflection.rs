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

/// The files of a FileContainingSymbol answer (the file and its imports),
/// as served (bytes) and decoded.
async fn files_for(
    app: &crate::helpers::TestApp,
    symbol: &str,
) -> Vec<(Vec<u8>, prost_types::FileDescriptorProto)> {
    let answer = reflect_v1(
        app,
        v1::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = answer
    else {
        panic!("{symbol} not resolved: {answer:?}");
    };
    files
        .file_descriptor_proto
        .into_iter()
        .map(|bytes| {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            (bytes, file)
        })
        .collect()
}

#[tokio::test]
async fn reflection_serves_every_error_reason_with_its_comment() {
    // What `grpcurl describe unico.identity.v1.ErrorReason` prints.
    let app = spawn_app().await;
    let files = files_for(&app, "unico.identity.v1.ErrorReason").await;
    let (_, file) = files
        .iter()
        .find(|(_, f)| f.name() == "unico/identity/v1/error_reason.proto")
        .expect("the enum's file");
    let (index, reason) = file
        .enum_type
        .iter()
        .enumerate()
        .find(|(_, e)| e.name() == "ErrorReason")
        .unwrap();
    let served: Vec<&str> = reason.value.iter().map(|v| v.name()).collect();
    let compiled: Vec<&str> = std::iter::once("ERROR_REASON_UNSPECIFIED")
        .chain(unico_facade::status::ERROR_REASON_NAMES.iter().copied())
        .collect();
    assert_eq!(served, compiled);
    // The names a client parses are the reasons the facade sends.
    for name in [
        "DOCUMENT_ALREADY_SET",
        "ACCESS_TOKEN_MISSING",
        "UPSTREAM_UNAVAILABLE",
    ] {
        assert!(served.contains(&name), "{name}");
    }
    let locations = file.source_code_info.as_ref().unwrap().location.clone();
    for (i, value) in reason.value.iter().enumerate() {
        let path = [5, index as i32, 2, i as i32];
        let comment = locations
            .iter()
            .find(|l| l.path == path)
            .map(|l| l.leading_comments().to_owned())
            .unwrap_or_default();
        assert!(
            !comment.trim().is_empty(),
            "{} has no comment",
            value.name()
        );
    }
}

#[tokio::test]
async fn reflection_serves_the_field_behavior_annotations_and_their_definition() {
    // Without google/api/field_behavior.proto a reflection client could not
    // resolve the services' files, which import it.
    let app = spawn_app().await;
    const IMPORT: &str = "google/api/field_behavior.proto";
    for service in SERVICES {
        let files = files_for(&app, service).await;
        assert!(
            files[0].1.dependency.iter().any(|d| d == IMPORT),
            "{service}"
        );
    }
    let answer = reflect_v1(
        &app,
        v1::server_reflection_request::MessageRequest::FileByFilename(IMPORT.into()),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = answer
    else {
        panic!("{IMPORT} not served: {answer:?}");
    };
    let file = prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
        .unwrap();
    assert_eq!(file.name(), IMPORT);
    assert!(file.extension.iter().any(|e| e.name() == "field_behavior"));
    // prost has no field for extension options: read the served bytes. A
    // field's options (FieldDescriptorProto field 8) holding only
    // field_behavior (1052) = REQUIRED (2) / OUTPUT_ONLY (3), either packed
    // (key E2 41, length 1, as protox writes it) or not (key E0 41).
    let marked = |bytes: &[u8], value: u8| {
        let packed = bytes
            .windows(6)
            .filter(|w| *w == [0x42, 0x04, 0xE2, 0x41, 0x01, value])
            .count();
        let unpacked = bytes
            .windows(5)
            .filter(|w| *w == [0x42, 0x03, 0xE0, 0x41, value])
            .count();
        packed + unpacked
    };
    for (symbol, file, required, output_only) in [
        (
            SERVICES[0],
            "unico/identity/v1/process_service.proto",
            8,
            12,
        ),
        (
            SERVICES[1],
            "unico/identity/v1/document_service.proto",
            13,
            0,
        ),
    ] {
        let files = files_for(&app, symbol).await;
        let (bytes, _) = files.iter().find(|(_, f)| f.name() == file).unwrap();
        assert_eq!(marked(bytes, 2), required, "{file}: REQUIRED fields");
        assert_eq!(marked(bytes, 3), output_only, "{file}: OUTPUT_ONLY fields");
    }
}
