# NEXO build, test and benchmark entry points. `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
BIN := bin/nexo
# Version stamped into the binary (main.version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Arguments for `make run`, e.g. make run ARGS='--port 6380'.
ARGS ?=
# How long each fuzz target runs in `make fuzz`.
FUZZTIME ?= 30s
# How long the fuzzer may spend shrinking each new input it finds (go test's
# default, 60s, is longer than a whole run of a target that finds often).
FUZZMINIMIZETIME ?= 3s
# Platforms besides Linux that the server must build for (make cross-build).
CROSS_PLATFORMS := darwin/arm64 windows/amd64
# Fuzz targets as package:FuzzFunc.
FUZZ_TARGETS := ./resp:FuzzReader ./commands:FuzzCommand ./wal:FuzzRecover ./wal:FuzzReadDamaged ./dashboard:FuzzAPI ./internal/glob:FuzzMatch ./engine/pubsub:FuzzFilterMatch ./engine/queue:FuzzCron ./engine/queue:FuzzReplay

.PHONY: help build run deps test gofmt-check vet cross-build go-test integration dashboard-screenshot bench bench-memory bench-queue bench-queue-restart bench-pubsub bench-stream bench-tx bench-sdk fuzz clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

build: ## Build the static release binary into bin/nexo.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/nexo

run: build ## Build, then start nexo on its defaults (ARGS='...' adds flags).
	./$(BIN) $(ARGS)

deps: ## Install redis-server, redis-tools, chromium, the npm packages and Go modules (idempotent).
	bash scripts/install-deps.sh

test: deps ## Everything CI checks: gofmt, go vet, the other platforms' builds, go test -race, the Vitest e2e suite.
	$(MAKE) --no-print-directory gofmt-check
	$(MAKE) --no-print-directory vet
	$(MAKE) --no-print-directory cross-build
	$(MAKE) --no-print-directory go-test
	$(MAKE) --no-print-directory integration

gofmt-check: ## Fail when a Go file is not gofmt-formatted.
	bash scripts/check-gofmt.sh

vet: ## go vet ./...
	$(GO) vet ./...

cross-build: ## Build the server for macOS and Windows, which it supports without epoll.
	$(foreach p,$(CROSS_PLATFORMS),GOOS=$(word 1,$(subst /, ,$(p))) GOARCH=$(word 2,$(subst /, ,$(p))) CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/nexo &&) true

go-test: ## Go tests with the race detector, ours and those of the patched tidwall/wal copy.
	$(GO) test -race -count=1 ./...
	cd third_party/tidwall-wal && $(GO) test -race -count=1 ./...

integration: ## The Vitest end-to-end suite in integration/ (it builds the binary itself).
	cd integration && VERSION=$(VERSION) npx vitest run

dashboard-screenshot: ## Run the dashboard's browser test and rewrite docs/dashboard.png from it.
	cd integration && VERSION=$(VERSION) UPDATE_DOCS_SCREENSHOT=1 npx vitest run dashboard

bench: ## redis-benchmark: nexo against redis-server, side by side.
	bash bench/redis-benchmark.sh

bench-memory: ## RSS for 1M keys: nexo against redis-server.
	bash bench/memory.sh

bench-queue: ## Queue throughput: QPUSH and push/pop/ack jobs/s against redis-server with AOF.
	bash bench/queue/queue.sh

bench-queue-restart: ## Restart time of the queue with 1M waiting jobs.
	bash bench/queue/restart.sh

bench-pubsub: ## Pub/sub deliveries/s, fan-out 1/10/100 and fan-in 100: nexo against redis-server.
	bash bench/pubsub.sh

bench-stream: ## Stream appends/s, replay and fan-out MB/s, consumer-group msg/s against redis-server streams with AOF, and CPU per message.
	bash bench/stream.sh

bench-tx: ## MULTI/EXEC and EVAL transactions/s against redis-server, with a plain pipeline for reference.
	bash bench/tx.sh

bench-sdk: deps ## The SDK's throughput per broker (vitest bench), its queue against BullMQ on redis-server.
	cd integration && VERSION=$(VERSION) npx vitest bench --run

fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@for target in $(FUZZ_TARGETS); do \
		pkg="$${target%%:*}"; fn="$${target##*:}"; \
		echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$${fn}\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) "$$pkg"; \
	done

clean: ## Remove build outputs and benchmark results.
	rm -rf bin integration/.build integration/artifacts bench/results
