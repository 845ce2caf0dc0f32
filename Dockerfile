# syntax=docker/dockerfile:1
#
# The referral-worker image: one binary on a distroless base (glibc, CA
# certificates and a `nonroot` user; no shell, no package manager). Every
# role runs from it: `serve` (the default), `web`, `work`, `migrate`.
#
#   docker build -t referral-worker .
#   docker run -e DATABASE_URL=postgres://… -e REDIS_URL=redis://… -p 8080:8080 referral-worker web
#
# It listens on 0.0.0.0:$PORT (8080). CI lints this file with hadolint; no
# Docker engine runs there, so the build itself is not exercised by CI.

FROM rust:1.95.0-slim-bookworm AS build
# The image carries 1.95.0, the release rust-toolchain.toml pins: take it
# as it is rather than let rustup fetch the lint components that file asks
# for.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# ring and SQLite are compiled from C with the image's gcc. The caches keep
# the registry and the dependencies' builds between image builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p worker --bin referral-worker \
    && cp target/release/referral-worker /referral-worker

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /referral-worker /usr/local/bin/referral-worker
# distroless's `nonroot`, by number so that a runtime can check it is not
# root (Kubernetes' runAsNonRoot) without reading /etc/passwd.
USER 65532:65532
# The embedded default (SQLite in the working directory) needs a directory
# the user may write; production points DATABASE_URL at PostgreSQL.
WORKDIR /home/nonroot
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/referral-worker"]
CMD ["serve"]
