# NEXO container image: a static binary on Alpine, running as a non-root user.
#   docker build -t nexo --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -p 6379:6379 -p 7379:7379 -v nexo-data:/data nexo
# Configure with flags after the image name or with NEXO_* variables (-e NEXO_PASSWORD=...).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces tidwall/wal with this directory.
COPY third_party ./third_party
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/nexo ./cmd/nexo

FROM alpine:3.22
RUN addgroup -S nexo && adduser -S -D -H -G nexo -h /data nexo \
    && mkdir -p /data && chown nexo:nexo /data
COPY --from=build /out/nexo /usr/local/bin/nexo
ENV NEXO_BIND=0.0.0.0 NEXO_DATA_DIR=/data
VOLUME /data
EXPOSE 6379 7379
USER nexo
# Healthy when the HTTP port answers GET /healthz (open even with a password, and
# served with --dashboard no too). busybox wget fails on anything but a 2xx.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD wget -q -T 2 -O /dev/null "http://127.0.0.1:${NEXO_HTTP_PORT:-7379}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/nexo"]
