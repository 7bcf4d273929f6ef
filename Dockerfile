# The scan function's image (and the large-object task's): Debian's ClamAV
# and scangate. Built by `cdk deploy` (the CDK app only hashes this
# folder at synth), for linux/arm64 like the other functions.
#
#   /usr/local/bin/scan       the Scan step as a Lambda (the entrypoint; a
#                             Go aws-lambda-go binary speaks the Lambda
#                             runtime API itself, so no base image is needed)
#   /usr/local/bin/scangate   `scangate task` for the large-object path,
#                             `scangate update` for signatures
#   /var/lib/clamav           the signature database, fetched by freshclam
#                             when the image is built (SCANGATE_CLAMAV_DB)

# The Go stage runs on the build machine's own platform and cross-compiles.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=arm64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags lambda.norpc -o /out/scan ./lambdas/cmd/scan \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -o /out/scangate ./cmd/scangate

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clamav-daemon clamav-freshclam ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The official database, as of the build. The scan function refuses
# verdicts from a database older than SCANGATE_MAX_DB_AGE: redeploy (or
# run the signature updater, docs/deploy.md) before it ages out.
RUN freshclam --foreground --stdout \
 && chmod -R a+rX /var/lib/clamav
COPY --from=build /out/scan /out/scangate /usr/local/bin/
# Lambda runs the image as an unprivileged user with a read-only root:
# clamd's socket and temporary files go under /tmp (SCANGATE_CLAMD_DIR).
ENV SCANGATE_CLAMAV_DB=/var/lib/clamav
ENTRYPOINT ["/usr/local/bin/scan"]
