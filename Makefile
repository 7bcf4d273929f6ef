# scangate: two commands do all the set-up on a fresh Debian machine with Go.
#   make run    the whole pipeline on this machine, embedded defaults
#   make test   every test, installing what the tests need first

SHELL := /bin/bash
GO    ?= go
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS  ?=

# Debian packages the scan engine and its tests need; clamav brings clamscan,
# the clamscan-per-file design the benchmark harness compares with; chromium
# runs the console's browser tests (TestBrowser...).
APT_PACKAGES := clamav-daemon clamdscan clamav-testfiles p7zip-full clamav chromium

.PHONY: run test drill deps tools versitygw goaws staticcheck lint vet build install fuzz bench clean lambda-assets synth cdk-test console-screenshots measure-clamd-memory

build:
	$(GO) build -o bin/scangate ./cmd/scangate

## install: put scangate on PATH (PREFIX/bin, default /usr/local/bin).
PREFIX ?= /usr/local
install: build
	$(SUDO) install -m 0755 bin/scangate $(PREFIX)/bin/scangate

## deps: install clamd, clamscan, the ClamAV test corpus, 7-Zip (the tests
## build 7z archives with it), chromium (the console's browser tests) and
## iproute2 when missing.
deps:
	@if ! command -v clamd >/dev/null 2>&1 && [ ! -x /usr/sbin/clamd ] || [ ! -d /usr/share/clamav-testfiles ] || ! command -v 7z >/dev/null 2>&1 || ! command -v clamscan >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi
	@# ip (iproute2) brings up loopback in goaws's network namespace.
	@command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || { echo "installing iproute2"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq iproute2 >/dev/null; }

## tools: the npm test tools, exactly as the committed lockfile pins them.
tools: tools/node_modules/.installed
tools/node_modules/.installed: tools/package-lock.json tools/package.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## versitygw: the S3-compatible server the S3 tests run against, built once
## at a pinned version and cached (the build takes minutes).
VERSITYGW_VERSION := v1.8.0
versitygw: .cache/bin/versitygw
.cache/bin/versitygw:
	GOBIN=$(CURDIR)/.cache/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## goaws: the SQS stand-in the sqsintake tests run against, built once at a
## pinned version (v0.4.x lacks the JSON protocol of current SDKs). Its main
## package is named cmd, so the binary is .cache/bin/cmd. The tests run it
## in its own network namespace (unshare from util-linux, ip from iproute2).
GOAWS_VERSION := v0.5.4
goaws: .cache/bin/cmd
.cache/bin/cmd:
	GOBIN=$(CURDIR)/.cache/bin $(GO) install github.com/Admiral-Piett/goaws/app/cmd@$(GOAWS_VERSION)

## staticcheck: the linter, built once at a pinned version (2026.2.2, which
## knows Go 1.26). The stamp names the version, so changing the pin rebuilds.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CURDIR)/.cache/bin/staticcheck
staticcheck: .cache/staticcheck-$(STATICCHECK_VERSION)
.cache/staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(CURDIR)/.cache/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

run: deps build
	./bin/scangate run $(ARGS)

vet:
	$(GO) vet ./...

## lint: go vet, staticcheck (staticcheck.conf; narrower exceptions are
## //lint:file-ignore lines with their reason) and gofmt, in the root module
## and in cdk/, which is a module of its own.
lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...
	cd cdk && $(GO) vet ./... && $(STATICCHECK) ./...

test: deps tools versitygw goaws lint cdk-test
	$(GO) test -race -timeout 20m ./...

## drill: the fault drill at full size; make test runs it with 100 objects.
## The figures it prints are in the -v output.
DRILL_OBJECTS ?= 400
drill: deps tools versitygw
	$(GO) test -race -count=1 -run '^TestDrill$$' -timeout 30m -v ./internal/drill -args -drill.objects=$(DRILL_OBJECTS)

## bench: the Go benchmarks, then the harness in internal/bench/: every mode against
## raw clamd on the same corpus in the same run, figures written into
## docs/benchmarks.md, a CPU profile of each mode into bin/bench-profiles.
## About 6 minutes on 2 cores, after a first build of versitygw and the
## npm tools. `make test` runs only the harness's smoke version.
BENCHTIME ?= 200x
bench: deps tools versitygw
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./internal/httpapi/ ./internal/clamd/...
	$(GO) test -count=1 -run '^TestHarness$$' -timeout 40m -v ./internal/bench \
		-args -harness.full -harness.write -harness.cpuprofile ../../bin/bench-profiles

## measure-clamd-memory: clamd's resident memory with an official-scale
## synthetic database (docs/clamd-memory.md): about 4 minutes, 1.5 GB of
## disk and 5 GiB of memory. make test runs it at a thousandth of the size.
measure-clamd-memory: deps
	$(GO) test -count=1 -run '^TestClamdMemory$$' -timeout 60m -v ./internal/bench -args -clamdmem.full

## console-screenshots: refresh docs/console/*.jpg from the browser tests.
console-screenshots: deps
	$(GO) test -count=1 -run '^TestBrowserConsole$$' ./internal/console -args -console.screenshots=$(CURDIR)/docs/console

## fuzz: run every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			echo "$$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## lambda-assets: every function under lambdas/cmd as a Lambda bootstrap
## (provided.al2023, arm64) in bin/lambda/NAME/bootstrap, for the CDK app.
## The scan function and the signature updater (sigupdate) run from the
## scan image, which builds their binaries itself (Dockerfile); their
## bootstraps here are built but unused.
LAMBDA_FUNCS := $(notdir $(wildcard lambdas/cmd/*))
lambda-assets:
	@mkdir -p bin/lambda/.build
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc -o bin/lambda/.build/ ./lambdas/cmd/...
	@for f in $(LAMBDA_FUNCS); do mkdir -p bin/lambda/$$f && mv -f bin/lambda/.build/$$f bin/lambda/$$f/bootstrap; done

## synth: the CDK app into cdk.out/ with the pinned CLI, offline: no AWS
## credentials, no Docker (the scan image is only hashed). cdk-nag runs in
## the app; the CLI fails on its unsuppressed errors and its report stays
## in cdk.out/AwsSolutions-Scangate-NagReport.csv. CDK_CONTEXT adds
## context, e.g. CDK_CONTEXT='-c existingBuckets=uploads'.
CDK_CONTEXT ?= -c newBucket=true
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
synth: tools lambda-assets
	rm -rf cdk.out
	cd cdk && $(CDK_ENV) ../tools/node_modules/.bin/cdk synth --app 'go run .' --output ../cdk.out \
		--no-notices --no-version-reporting --quiet $(CDK_CONTEXT)

## cdk-test: the CDK app's tests (assertions, cdk-nag, cfn-guard), in its
## own module; lint vets it. cfn-guard comes from the npm tools.
cdk-test: tools
	cd cdk && $(CDK_ENV) $(GO) test -count=1 -timeout 15m ./...

clean:
	rm -rf bin scangate-data cdk.out
