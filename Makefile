# claybridge: build, run locally, test.
GO ?= go
BIN ?= bin
GOFLAGS_TEST ?=

.PHONY: build run test unit itest vet bench demo clean

build:
	$(GO) build -o $(BIN)/claybridge ./cmd/claybridge
	$(GO) build -o $(BIN)/claysim ./cmd/claysim

## run: the main job on an embedded NATS server and the in-process Clay simulator.
run: build
	$(BIN)/claybridge run --embedded-nats --sim

## demo: publish examples/requests.jsonl to a running "make run" (NATS_URL,
## CLAYSIM_URL) and check that every request ends exactly once.
demo:
	$(GO) build -o $(BIN)/demo ./examples/demo
	$(BIN)/demo --file examples/requests.jsonl

## test: vet, unit tests against an in-process nats-server, then the multi-process tests.
test: vet unit itest

vet:
	$(GO) vet ./...

## unit: every package's tests except ./itest, which the itest target runs.
unit:
	$(GO) test $(GOFLAGS_TEST) -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e '/itest$$' -e '/itest/')

## itest: the multi-process tests: real nats-server, claysim and claybridge
## processes killed and restarted while requests flow; -v prints each
## scenario's figures. About 8 minutes on 2 cores.
itest:
	$(GO) test $(GOFLAGS_TEST) -count=1 -p 1 -timeout 15m -v ./itest/...

## bench: throughput, added latency, rate-budget use, priority isolation,
## fallback latency, memory and scaling (docs/benchmarks.md); the figures go
## to $(BIN)/bench.json too. About two and a half minutes on 2 cores;
## "make bench BENCH_FLAGS=--quick" runs every case small, in under a minute.
BENCH_FLAGS ?=
bench: build
	$(BIN)/claybridge bench --json $(BIN)/bench.json $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) data
