# The scan function's image (and the large-object task's): Debian's ClamAV
# and scangate. Built by `cdk deploy` (the CDK app only hashes this
# folder at synth), for linux/arm64 like the other functions.
#
#   /usr/local/bin/scan       the Scan step as a Lambda (the entrypoint; a
#                             Go aws-lambda-go binary speaks the Lambda
#                             runtime API itself, so no base image is needed)
#   /usr/local/bin/sigupdate  the signature updater as a Lambda (the same
#                             image, this entrypoint): `scangate update`
#                             with freshclam, then publishes the set to
#                             the signatures bucket (package sigset)
#   /usr/local/bin/scangate   `scangate task` for the large-object path,
#                             `scangate update` for the updater
#
# The image carries no signature database: one baked in at build time is
# refused by the staleness guard a day later. The scan function and the
# task load the current set from the signatures bucket into /tmp before
# clamd starts (SCANGATE_SIGNATURES_BUCKET, SCANGATE_CLAMAV_DB), and fail
# closed when there is none.

# The per-prefix policy (docs/policy.md). This stage holds only
# cdk/policy/README.md; a deployment with a policy file (the CDK prop
# PolicyFile, context policyFile) replaces it with the folder holding that
# file: cdk deploy builds with --build-context policy=FOLDER, which BuildKit
# puts in place of the stage of that name. The scanners read it when
# SCANGATE_POLICY_FILE names a file in /etc/scangate/policy.
FROM scratch AS policy
COPY cdk/policy/ /

# The Go stage runs on the build machine's own platform and cross-compiles.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=arm64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags lambda.norpc -o /out/scan ./lambdas/cmd/scan \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags lambda.norpc -o /out/sigupdate ./lambdas/cmd/sigupdate \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -o /out/scangate ./cmd/scangate

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clamav-daemon clamav-freshclam ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/scan /out/sigupdate /out/scangate /usr/local/bin/
COPY --from=policy / /etc/scangate/policy/
# Lambda runs the image as an unprivileged user with a read-only root:
# clamd's socket and temporary files go under /tmp (SCANGATE_CLAMD_DIR),
# and so does the loaded signature set.
ENV SCANGATE_CLAMAV_DB=/tmp/signatures
ENTRYPOINT ["/usr/local/bin/scan"]
