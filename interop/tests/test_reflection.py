"""grpcio-reflection's client-side descriptor database (reflection v1alpha) resolves both
services, the request and response types, and the google.rpc detail types; a client built
from reflected descriptors alone can call the facade; and what the server reflects is the
contract in proto/ (same messages, fields, numbers, types, services and methods).
"""

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from support import AUTH, CPF, DOCUMENT, PROCESS, awaiting_id


@pytest.fixture(scope="module")
def database(channel):
    return ProtoReflectionDescriptorDatabase(channel)


@pytest.fixture(scope="module")
def pool(database):
    return descriptor_pool.DescriptorPool(database)


def test_services_are_listed(database):
    services = set(database.get_services())
    assert {PROCESS, DOCUMENT, "grpc.health.v1.Health"} <= services, services


# Every RPC of each service, with its types and whether it streams its answer.
RPCS = {
    PROCESS: [
        ("SetProcessDocument", "SetProcessDocumentRequest", "SetProcessDocumentResponse", False),
        ("CreateProcess", "CreateProcessRequest", "CreateProcessResponse", False),
        ("GetProcess", "GetProcessRequest", "GetProcessResponse", False),
        ("WatchProcess", "WatchProcessRequest", "WatchProcessResponse", True),
    ],
    DOCUMENT: [
        ("CreateDocumentProcess", "CreateDocumentProcessRequest", "CreateDocumentProcessResponse", False),
        ("ListReusableDocuments", "ListReusableDocumentsRequest", "ListReusableDocumentsResponse", False),
        ("GetDocumentProcess", "GetDocumentProcessRequest", "GetDocumentProcessResponse", False),
        ("WatchDocumentProcess", "WatchDocumentProcessRequest", "WatchDocumentProcessResponse", True),
    ],
}


@pytest.mark.parametrize("service", [PROCESS, DOCUMENT])
def test_both_services_resolve(pool, service):
    descriptor = pool.FindServiceByName(service)
    assert [m.name for m in descriptor.methods] == [name for name, *_ in RPCS[service]]
    for method, request_type, response_type, streams in RPCS[service]:
        rpc = descriptor.methods_by_name[method]
        assert rpc.input_type.full_name == f"unico.identity.v1.{request_type}"
        assert rpc.output_type.full_name == f"unico.identity.v1.{response_type}"
        assert not rpc.client_streaming and rpc.server_streaming == streams


@pytest.mark.parametrize(
    "name",
    [
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
        "google.rpc.PreconditionFailure",
        "google.rpc.ResourceInfo",
        "google.rpc.RetryInfo",
        "google.rpc.LocalizedMessage",
        "google.protobuf.Struct",
    ],
)
def test_detail_types_resolve(pool, name):
    assert pool.FindMessageTypeByName(name).full_name == name


def test_a_client_built_from_reflection_alone(pool, channel):
    rpc = pool.FindServiceByName(PROCESS).methods_by_name["SetProcessDocument"]
    Request = message_factory.GetMessageClass(rpc.input_type)
    Response = message_factory.GetMessageClass(rpc.output_type)
    call = channel.unary_unary(
        f"/{PROCESS}/SetProcessDocument",
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
    process_id = awaiting_id()
    request = Request(process_id=process_id, dui_type=1, dui_value=CPF)
    response = call(request, metadata=AUTH, timeout=15)
    assert response.process.id == process_id
    assert response.process.person.dui_value == CPF


def _shape(file_proto: descriptor_pb2.FileDescriptorProto):
    """What a client depends on in a file: everything but comments and json_name."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file_proto)
    copy.ClearField("source_code_info")
    for message in copy.message_type:
        _strip(message)
    return copy


def _strip(message):
    for f in message.field:
        f.ClearField("json_name")
    for nested in message.nested_type:
        _strip(nested)


@pytest.mark.parametrize(
    "module, path",
    [
        ("identifiers", "unico/identity/v1/identifiers.proto"),
        ("process", "unico/identity/v1/process_service.proto"),
        ("document", "unico/identity/v1/document_service.proto"),
    ],
)
def test_the_reflected_contract_is_proto_dir(pb, database, module, path):
    served = database.FindFileByName(path)
    local = descriptor_pb2.FileDescriptorProto.FromString(getattr(pb, module).DESCRIPTOR.serialized_pb)
    assert _shape(served) == _shape(local)


def test_comments_are_served(database):
    served = database.FindFileByName("unico/identity/v1/process_service.proto")
    comments = " ".join(loc.leading_comments for loc in served.source_code_info.location)
    assert "SetProcessDocument sets the identity document" in comments
