# syntax=docker/dockerfile:1
#
# unico-facade: a release build on the Rust image, run on a slim Debian with
# nothing but the CA roots. Configuration comes only from the environment
# (UNICO_*, see README "Configuration"); no secret is baked in.
#
#   docker build -t unico-facade .
#   docker run --rm -p 50051:50051 --stop-timeout 30 unico-facade serve --emulator
#
# Lint: deploy/check (hadolint). No system protoc (protox) and no OpenSSL
# (rustls with ring) are needed to build.

# ---- build -----------------------------------------------------------------
# Same Debian release as the runtime stage, so the binary's glibc matches.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# 1. Dependencies, cached: only the manifest, the lockfile, the build script
#    and the contract, then a dummy crate with the same targets. This layer is
#    rebuilt only when one of those files changes, not on every source edit.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
RUN mkdir -p src tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > tests/api/main.rs \
    && cargo build --release --locked --bin unico-facade \
    && rm -rf src tests

# 2. The real sources. `touch`: COPY keeps the build context's timestamps,
#    which can be older than the dummy's artefacts, and cargo would then
#    keep the dummy.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin unico-facade \
    && cp target/release/unico-facade /usr/local/bin/unico-facade

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="unico-facade" \
      org.opencontainers.image.description="gRPC facade over the vendor's identity REST APIs" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

# The vendor's hosts are HTTPS, verified against the system roots: the CA
# bundle is the only package the binary needs. (Versions are not pinned: see
# deploy/hadolint.yaml.)
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /usr/local/bin/unico-facade /usr/local/bin/unico-facade

# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001

# Defaults only; override any UNICO_* setting at run time. Secrets
# (UNICO_API_KEY, the private key file) are provided by the platform.
# UNICO_FACADE_HEALTH_ADDR must follow UNICO_FACADE_LISTEN's port.
ENV UNICO_FACADE_LISTEN=0.0.0.0:50051 \
    UNICO_FACADE_HEALTH_ADDR=127.0.0.1:50051 \
    UNICO_FACADE_LOG_FORMAT=json \
    RUST_LOG=info

# gRPC (plaintext HTTP/2; TLS by the mesh, or --tls-cert-file/--tls-key-file).
# Metrics (/metrics) listen only when UNICO_FACADE_ADMIN_LISTEN is set,
# e.g. 0.0.0.0:9090; the vendor's webhook only when UNICO_FACADE_WEBHOOK_LISTEN is set,
# e.g. 0.0.0.0:8088.
EXPOSE 50051 9090 8088

# grpc.health.v1 Check of the whole server: NOT_SERVING while draining.
# Kubernetes ignores HEALTHCHECK and uses its own gRPC probes (deploy/kubernetes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["unico-facade", "health", "--timeout", "2s"]

# SIGTERM drains (UNICO_FACADE_DRAIN_DELAY, 5s) then lets calls finish
# (UNICO_FACADE_SHUTDOWN_GRACE, 20s): stop with a timeout above 25s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["unico-facade"]
CMD ["serve"]
