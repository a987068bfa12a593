# thumbpipe — see README.md. `make run` and `make test` are the two commands.
SHELL := bash
GO    ?= go
# Every build and test uses this patched toolchain (the Go module proxy serves
# it; the go command downloads it once). go.mod's go line names the same.
export GOTOOLCHAIN := go1.27.3
export THUMBPIPE_TOOLS_DIR ?= $(HOME)/.cache/thumbpipe/tools

.PHONY: all build run test test-tools lint tidy check-deps vulncheck bench bench-hostile bench-stacks bench-go fuzz soak \
	build-lambda build-ThumbnailFunction deploy-sam deploy-gcf image compose-env compose-up compose-config clean

all: build

# Binaries are static (CGO_ENABLED=0) and built with two tags that leave code
# out: disable_grpc_modules drops the storage client's gRPC direct path (gcsblob
# talks HTTP), and grpcnotrace drops grpc's golang.org/x/net/trace, whose
# html/template keeps the linker from removing unused methods. Every page of
# the binary that start-up touches is resident memory, so a smaller binary is
# a smaller process: 48.6 -> 34.6 MB file, 29.6 -> 24.9 MB peak RSS for a
# 24 MP thumbnail. scripts/check-deps.sh keeps x/net/trace out.
# nodynamic keeps the WebAssembly codecs of gen2brain/webp and gen2brain/avif
# (the encoders) on their embedded builds: without it they try to dlopen a host
# libwebp or libavif at start (through purego, which turns on cgo-style threading in a
# CGO_ENABLED=0 binary); scripts/check-deps.sh keeps purego out. Tests build
# with it too (TEST_TAGS), so they test what ships.
export BUILD_TAGS ?= disable_grpc_modules,grpcnotrace,nodynamic
export LAMBDA_TAGS ?= lambda.norpc,grpcnotrace,nodynamic
export TEST_TAGS ?= nodynamic

build: ## build the command line into bin/
	CGO_ENABLED=0 $(GO) build -tags $(BUILD_TAGS) -trimpath -o bin/thumbpipe ./cmd/thumbpipe

run: ## watch ./photos: drop images in photos/uploads, thumbnails appear in photos/thumbnails
	CGO_ENABLED=0 $(GO) run -tags $(BUILD_TAGS) ./cmd/thumbpipe watch --bucket ./photos

test: test-tools lint tidy check-deps vulncheck ## everything CI runs
	$(GO) test -tags $(TEST_TAGS) -race -timeout 40m ./...

test-tools: ## install the pinned MinIO, Lambda emulator and GCS emulator binaries, and the Debian reference tools
	scripts/install-test-packages.sh
	scripts/install-test-tools.sh

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TEST_TAGS) ./...
	$(GO) vet -tags $(BUILD_TAGS) ./cmd/... ./functions/...

tidy: ## go.mod and go.sum are tidy: fails if `go mod tidy` would change them
	$(GO) mod tidy -diff

check-deps: ## the core imports no cloud SDK, driver or function framework
	scripts/check-deps.sh

vulncheck: ## govulncheck (pinned) against a pinned offline vulnerability database
	scripts/vulncheck.sh

bench: build ## thumbpipe vs the naive Go path vs vipsthumbnail, side by side (installs vips as root)
	scripts/bench.sh bin/thumbpipe

bench-hostile: build ## peak RSS of thumbpipe and vipsthumbnail on each costly file of the hostile corpus (the README's table)
	scripts/bench.sh bin/thumbpipe -hostile -runs 3

bench-stacks: test-tools ## upload -> thumbnails latency and burst throughput: the webhook stack against NATS with 1 and 2 workers
	$(GO) test -run '^$$' -bench '^BenchmarkStacks$$' -benchtime 1x -timeout 30m -v ./cmd/thumbpipe

bench-go: ## in-process Go benchmarks of the pipeline
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./pipeline/...

FUZZTIME ?= 30s
fuzz: ## run every fuzz target in the module for FUZZTIME each (their seeds run in make test)
	@for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

SOAK_N ?= 10000
soak: test-tools ## the soak against real MinIO with SOAK_N uploads (make test runs a short one)
	THUMBPIPE_SOAK_N=$(SOAK_N) $(GO) test -run '^TestSoak$$' -count 1 -v -timeout 0 ./cmd/thumbpipe

LAMBDA_GOARCH ?= arm64
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -tags $(LAMBDA_TAGS) -trimpath -ldflags="-s -w"

build-lambda: ## dist/s3lambda.zip: the AWS Lambda function (provided.al2023, arm64), ready to upload
	mkdir -p dist/s3lambda
	$(LAMBDA_BUILD) -o dist/s3lambda/bootstrap ./functions/s3lambda
	rm -f dist/s3lambda.zip && cd dist/s3lambda && zip -q -X ../s3lambda.zip bootstrap
	@ls -l dist/s3lambda/bootstrap dist/s3lambda.zip

# sam build (deploy/sam/template.yaml, BuildMethod: makefile) runs this in a copy of the module with ARTIFACTS_DIR set.
build-ThumbnailFunction:
	$(LAMBDA_BUILD) -o "$(ARTIFACTS_DIR)/bootstrap" ./functions/s3lambda

deploy-sam: ## build and deploy the SAM stack; asks for its settings on first use
	cd deploy/sam && sam build && \
	if [ -f samconfig.toml ]; then sam deploy; else sam deploy --guided; fi

image: ## build the container image
	docker build -t thumbpipe:local .

# The compose stack's secrets live in .env (gitignored). compose-env writes it
# with random values when there is none, and never overwrites one.
COMPOSE_ENV_FILE ?= .env
compose-env: ## write .env with random secrets for the compose stack, unless it exists
	@if [ -e "$(COMPOSE_ENV_FILE)" ]; then echo "$(COMPOSE_ENV_FILE) exists: keeping its secrets"; else \
		umask 077; secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }; \
		{ echo "# Secrets of the local compose stack, written by make compose-env. Keep out of git."; \
		  echo "MINIO_ROOT_USER=thumbpipe-admin"; \
		  echo "MINIO_ROOT_PASSWORD=$$(secret)"; \
		  echo "THUMBPIPE_MINIO_SECRET=$$(secret)"; \
		  echo "THUMBPIPE_WEBHOOK_TOKEN=$$(secret)"; } >"$(COMPOSE_ENV_FILE).tmp" && \
		mv "$(COMPOSE_ENV_FILE).tmp" "$(COMPOSE_ENV_FILE)" && \
		echo "wrote $(COMPOSE_ENV_FILE) with random secrets (MinIO console: thumbpipe-admin / MINIO_ROOT_PASSWORD)"; fi

compose-up: compose-env ## MinIO + the webhook on 127.0.0.1: console on :9001, drop images into the "images" bucket
	docker compose up --build

compose-config: compose-env ## print docker-compose.yml as compose resolves it
	docker compose config

deploy-gcf: ## deploy the Cloud Functions (GCF_BUCKET=name, GCF_PROJECT, GCF_REGION...; DRY_RUN=1 prints and builds only)
	deploy/gcloud/deploy.sh $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf bin dist .aws-sam
