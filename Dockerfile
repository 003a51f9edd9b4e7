# Multi-stage build: a static binary (no cgo: SQLite is modernc's pure Go)
# on a distroless base, running as a non-root user.
#
# The build context has no .git (.dockerignore), so the version and the
# source revision that `idp version` prints are passed in:
#
#   docker build -t idp \
#     --build-arg VERSION=1.4.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg REVISION_TIME=$(git log -1 --format=%cI) .
#
# They become -ldflags "-X main.version=... -X main.revision=...
# -X main.revisionTime=..."; left out, idp version says devel / unknown.
FROM golang:1.26-bookworm AS build
ARG VERSION=
ARG REVISION=
ARG REVISION_TIME=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# nomsgpack: gin's MessagePack binding, unused here, and 6 MB of binary
# whose start-up the process would keep in memory.
RUN CGO_ENABLED=0 go build -trimpath -tags nomsgpack \
      -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.revisionTime=${REVISION_TIME}" \
      -o /out/idp ./cmd/idp \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=
ARG REVISION=
LABEL org.opencontainers.image.title="Community IdP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/idp /usr/local/bin/idp
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/idp
# Defaults for a container: listen on every interface, and read the
# configuration mounted at /etc/idp/idp.yaml. Without one, `idp serve`
# says what to mount and exits non-zero: the image never runs the
# development provider (an http issuer, the examples' clients) where
# others can reach it. The working directory is the volume, so a SQLite
# database (dsn: idp.db) lives there; the configuration can choose any
# database, dsn or dsn_file, without an image default getting in the way.
ENV IDP_LISTEN=0.0.0.0:8080 \
    IDP_CONFIG=/etc/idp/idp.yaml
WORKDIR /var/lib/idp
USER nonroot:nonroot
EXPOSE 8080
VOLUME /var/lib/idp
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/idp", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/idp"]
CMD ["serve"]
