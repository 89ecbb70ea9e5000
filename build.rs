//! Compiles the contract under `proto/` with protox (pure Rust, no system
//! `protoc`), generates the tonic/prost code, and writes the encoded
//! descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/unico/identity/v1/identifiers.proto",
    "proto/unico/identity/v1/process_service.proto",
    "proto/unico/identity/v1/document_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let file_descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("unico_identity_v1_descriptor.bin"),
        file_descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Images arrive as `Bytes` slices of the request buffer: no copy
        // before they are base64-encoded into the upstream body.
        .bytes(".unico.identity.v1.DocumentFile.data")
        .compile_fds(file_descriptors)?;
    Ok(())
}
