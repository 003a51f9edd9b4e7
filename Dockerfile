# Multi-stage build: a static binary (no cgo: SQLite is modernc's pure Go)
# on a distroless base, running as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/idp ./cmd/idp \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idp /usr/local/bin/idp
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/idp
# Defaults for a container: listen on every interface, keep the database on
# the volume. Mount a configuration file and set IDP_CONFIG to use one.
ENV IDP_LISTEN=0.0.0.0:8080 \
    IDP_DATABASE_DSN=/var/lib/idp/idp.db
USER nonroot:nonroot
EXPOSE 8080
VOLUME /var/lib/idp
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/idp", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/idp"]
CMD ["serve"]
