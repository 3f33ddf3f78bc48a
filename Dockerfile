# syntax=docker/dockerfile:1
# Multi-stage build of trd-cds.
#   docker build -t trd-cds .
#   docker run --rm -p 8080:8080 -e TRD_CDS_PATIENT_HASH_SECRET=... trd-cds   (in-memory store)
# Build stage: the whole crate (knowledge/ and migrations/ are compiled into the binary).
# Runtime stage: debian slim + the binary, non-root user, no compiler, no sources.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# Sources (see .dockerignore: no target/, no .git).
COPY . .
# Cache mounts keep the registry and target dir between builds; the binary is copied out
# of the cached target dir because the mount is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin trd-cds \
 && install -D -m 0755 target/release/trd-cds /out/trd-cds

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: outbound HTTPS to FHIR servers / JWKS URLs. Nothing else is installed.
# DL3008 (pin apt versions) is ignored on purpose: ca-certificates must follow Debian's security
# updates, and a pinned Debian version vanishes from the archive and breaks rebuilds; the base image
# tag (DEBIAN_RELEASE) pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 trd \
 && useradd --system --uid 10001 --gid trd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trd
COPY --from=build /out/trd-cds /usr/local/bin/trd-cds
USER 10001:10001
ENV TRD_CDS_ADDR=0.0.0.0:8080 \
    TRD_CDS_LOG_FORMAT=json
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz (liveness) and checks for a 200 status line.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# Migrations run at start-up when DATABASE_URL is set. On SIGTERM /readyz fails for
# TRD_CDS_SHUTDOWN_DRAIN_MS (default 5 s) while requests are still served, then in-flight requests
# finish (up to 30 s) and the audit queue drains: give the container that long to stop.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/trd-cds"]
CMD ["serve"]
