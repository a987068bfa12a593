# syntax=docker/dockerfile:1
# thumbpipe: a static binary on a distroless base, running as non-root.
#   docker build -t thumbpipe .
#   docker run --rm thumbpipe --help

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -tags disable_grpc_modules,grpcnotrace,nodynamic -trimpath -ldflags="-s -w" -o /out/thumbpipe ./cmd/thumbpipe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/thumbpipe /thumbpipe
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/thumbpipe"]
CMD ["serve"]
