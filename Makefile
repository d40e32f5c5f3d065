# ohi: open health imaging. `make help` lists the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build run test test-short demo generate check-generate setup fuzz bench clean screenshots

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/ohi (installs the codec libraries first when run as root on Debian)
	bash scripts/check-deps.sh --install
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ohi ./cmd/ohi
	bash scripts/install-ohif.sh bin/viewer || echo "make build: the OHIF viewer was not installed; /viewer will say how to install it" >&2

run: build ## run the server on the embedded default (127.0.0.1:8080, ./ohi-data)
	./bin/ohi serve

demo: build ## start a server, import a generated study, search it, stop (exit 0)
	bash scripts/demo.sh

setup: ## install what the tests need (system packages, offline DICOM corpora)
	bash scripts/setup.sh

test: setup ## all tests: vet, race detector, integration with the AWS SDK and CLI
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...
	OHI_TEST_BACKEND=postgres $(GO) test -race -timeout 10m ./internal/app/

test-short: ## fast unit tests only
	$(GO) test -short ./...

generate: ## regenerate api/zz_generated.go from the botocore model in ../shared
	$(GO) run ./internal/apigen -model ../shared/healthimaging/medical-imaging-service-2.json -out api/zz_generated.go -openapi api/openapi.json

screenshots: ## run the Chromium tests; refresh docs/console.png and docs/viewer.png (all shots in e2e/artefacts/)
	OHI_E2E_REQUIRE_CLIENTS=1 OHI_E2E_README_SHOTS=$(CURDIR)/docs $(GO) test -count=1 -run '^TestBrowser(Console|Viewer)$$' ./e2e/

fuzz: ## run each fuzz target for 30s
	bash scripts/fuzz.sh 30s

bench: build ## import and search benchmarks (see README)
	bash bench/import.sh
	bash bench/search.sh

clean: ## remove build output and the default data directory
	rm -rf bin ohi-data
