//! The fuzz corpora (`fuzz/corpus/<target>/`), replayed through the same
//! checks the fuzz targets run (`fuzz/checks.rs`), so that every input a
//! fuzzing session kept (and every crash it found, once added) is checked
//! by `cargo test` on stable Rust, with no fuzzer installed.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("error_body", checks::error_body),
    ("grpc_timeout", checks::grpc_timeout),
    ("request_id", checks::request_id),
    ("request_validation", checks::request_validation),
    ("image_header", checks::image_header),
    ("success_bodies", checks::success_bodies),
];

#[test]
fn every_fuzz_corpus_input_passes_its_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, check) in TARGETS {
        let dir = root.join(target);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let replay = std::panic::catch_unwind(|| check(&data));
            assert!(
                replay.is_ok(),
                "{target}: {} fails its checks",
                path.display()
            );
            inputs += 1;
        }
        assert!(inputs > 0, "{target}: empty corpus");
    }
}
