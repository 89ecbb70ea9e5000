//! The generated protobuf and gRPC code of the contract, behind one module,
//! and the encoded descriptor set that server reflection serves.

/// `unico.identity.v1`: the facade's contract (see `proto/unico/identity/v1/`).
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod identity_v1 {
    tonic::include_proto!("unico.identity.v1");
}

/// The encoded `FileDescriptorSet` of `proto/` (comments included), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/unico_identity_v1_descriptor.bin"
));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::FILE_DESCRIPTOR_SET;

    #[test]
    fn descriptor_set_holds_both_services_with_their_comments() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("the build script writes a valid descriptor set");
        let services: Vec<String> = set
            .file
            .iter()
            .filter(|file| file.package() == "unico.identity.v1")
            .flat_map(|file| file.service.iter().map(|s| s.name().to_owned()))
            .collect();
        assert!(services.contains(&"ProcessService".to_owned()));
        assert!(services.contains(&"DocumentService".to_owned()));
        let has_comments = set.file.iter().any(|file| {
            file.source_code_info
                .as_ref()
                .is_some_and(|info| info.location.iter().any(|l| l.leading_comments.is_some()))
        });
        assert!(
            has_comments,
            "protox must keep comments for grpcurl describe"
        );
    }
}
