# syntax=docker/dockerfile:1
# letta-rs: build with the Rust toolchain, run on a slim Debian.
#   docker build -t letta-rs .
#   docker run -p 8283:8283 -v letta-data:/data letta-rs

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The caches keep the crate registry and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin letta-rs \
    && cp target/release/letta-rs /usr/local/bin/letta-rs

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /data letta
COPY --from=builder /usr/local/bin/letta-rs /usr/local/bin/letta-rs
USER letta
WORKDIR /data
# Listen on all interfaces inside the container; SQLite under /data unless LETTA_PG_URI is set.
ENV LETTA_HOST=0.0.0.0 \
    LETTA_PORT=8283 \
    LETTA_DIR=/data
EXPOSE 8283
VOLUME ["/data"]
# No curl in the slim image: bash's /dev/tcp asks /v1/health/ for a 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8283 && printf 'GET /v1/health/ HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/letta-rs"]
