# mxaudit — see README.md. `make demo` and `make test` are all a fresh machine needs.
GO      ?= go
GOFLAGS ?=
BIN     := bin
PKGS    := ./...

.PHONY: build test demo bench bench-scale fuzz vet clean

build:
	$(GO) build -o $(BIN)/mxaudit ./cmd/mxaudit

# Unit, integration and end-to-end tests (real SMTP and TLS on 127.0.0.0/8),
# plus every fuzz target's seed corpus.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)

demo: build
	./$(BIN)/mxaudit demo --out demo-out

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m $(PKGS)

# Issue 15 (not in make test): a real scan (inventory CSV, probes, checks
# plugin, SQLite history, every report) of 10k, 100k and 1M targets on
# loopback (1,000 answering at once, the rest refused), concurrency 2,000;
# wall time, targets/s, peak RSS and when each stage ended, each size in its
# own process. SCALE_SIZES overrides the sizes.
SCALE_SIZES ?= 10000 100000 1000000
bench-scale:
	@ulimit -n 20000 2>/dev/null || true; for n in $(SCALE_SIZES); do \
	  MXAUDIT_SCALE=$$n $(GO) test -run '^TestScale$$' -count=1 -timeout 60m -v ./internal/pipeline | grep -E '^(scale|--- FAIL|FAIL)' || exit 1; \
	done

# Short coverage-guided fuzzing of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN) demo-out

# Check plugins (issue 3). `make proto` regenerates plugins/checkspb from
# checks.proto: needs protoc and the well-known types (Debian protobuf-compiler
# libprotobuf-dev); the generators are
# installed at the pinned versions. The generated code is committed, so
# building and CI never need protoc.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
.PHONY: proto plugins
proto:
	$(GO) install $(PROTOC_GEN_GO)
	$(GO) install $(PROTOC_GEN_GO_GRPC)
	cd plugins/checkspb && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=. --proto_path=/usr/include \
	  --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative checks.proto

# The example check plugins, into ./plugins.d where mxaudit looks first.
plugins:
	$(GO) build -o plugins.d/mxaudit-check-allowed-ca ./plugins/examples/allowed-ca

# Reports (issue 4): re-render the demo's reports from its results.json,
# without the network, into demo-out/rerendered.
.PHONY: report
report: build
	./$(BIN)/mxaudit report --from demo-out/results.json --out demo-out/rerendered --per-partner
