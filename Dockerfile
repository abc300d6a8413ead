# syntax=docker/dockerfile:1
# The vlb-controller image for users with a container engine (docker build, podman build,
# buildah bud): the same image scripts/build-image builds offline with `buildah from scratch`
# (CI checks that one; this file cannot be built on the project's machines, which can pull no
# base image). Both lay out the root filesystem with scripts/image-rootfs: the binary, the
# shared libraries it links, Debian's CA certificates, /etc/passwd with the non-root user 65532,
# no shell.
#
#   docker build -t vlb-controller:0.1.0 .

# Build stage: Debian 12 (bookworm), as the project's machines; the glibc the binary links is
# copied from here, so build and run libraries match.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vlb-app --bin vlb-controller \
    && scripts/image-rootfs target/release/vlb-controller /rootfs

# The image: nothing but what image-rootfs laid out.
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /
EXPOSE 8080/tcp
LABEL org.opencontainers.image.title="vlb-controller" \
      org.opencontainers.image.description="vlb: VNGCloud load balancers for Kubernetes Services" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/vlb-operator/vlb" \
      org.opencontainers.image.url="https://github.com/vlb-operator/vlb" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="vlb developers"
ENTRYPOINT ["/vlb-controller"]
CMD ["run"]
