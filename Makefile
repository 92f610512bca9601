# KubeProxy Lab: `make run` serves the app, `make test` runs every check, `make bench` measures.
# Works on a fresh Debian machine as root with nothing but package registries; a second run is
# fast because each step leaves a stamp file under .venv/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Debian packages the browser and kernel tests need (and CJK fonts for Chinese screenshots).
APT_PACKAGES := chromium iptables iproute2 conntrack nftables ipset nfacct fonts-noto-cjk
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: help run test lint pytest bench system-packages clean docker-test

help:
	@echo "make run    serve http://$(HOST):$(PORT) (creates .venv and the SQLite database)"
	@echo "make test   install what the tests need, then ruff, the whole pytest suite and docker-test"
	@echo "make bench  print benchmark figures, one 'name: value unit' per line"
	@echo "make docker-test  build the Docker image, run it, drive its API, clean up"

$(BIN)/python:
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing kube-proxy-lab into $(VENV)"
	@$(PIP) install -e . > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	@echo "==> installing test dependencies"
	@$(PIP) install -e '.[test]' > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

# Installs only what is missing; without root or apt the browser and kernel tests skip, saying why.
system-packages:
	@missing=""; \
	for spec in chromium:/usr/bin/chromium iptables:iptables iproute2:ip conntrack:conntrack \
	            nftables:nft ipset:ipset nfacct:nfacct fonts-noto-cjk:/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc; do \
	  pkg=$${spec%%:*}; probe=$${spec#*:}; \
	  if [ "$${probe#/}" != "$$probe" ]; then [ -e "$$probe" ] || missing="$$missing $$pkg"; \
	  else command -v "$$probe" >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "==> not root or no apt-get: skipping$$missing (tests that need them will skip)"; exit 0; fi; \
	echo "==> apt-get install$$missing (log: $(VENV)/apt.log)"; \
	mkdir -p $(VENV); \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    -o DPkg::Lock::Timeout=300 --no-install-recommends $$missing; } > $(VENV)/apt.log 2>&1 \
	  || echo "==> apt-get failed (see $(VENV)/apt.log); tests that need$$missing will skip"

run: $(VENV)/.installed
	@$(BIN)/kube-proxy-lab serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	@echo "==> ruff check"
	@$(BIN)/ruff check --quiet .
	@echo "==> ruff format --check"
	@$(BIN)/ruff format --check --quiet .

# A private PostgreSQL on 127.0.0.1 (scripts/postgres.sh; it stays up for the next run, stop it
# with `scripts/postgres.sh stop`). The tests and benchmarks find it in KPL_TEST_POSTGRES_URL;
# when it cannot start, the reason goes into KPL_TEST_POSTGRES_SKIP and the PostgreSQL runs skip.
define WITH_POSTGRES
if pg_why=$$(scripts/postgres.sh start 2>&1 >/dev/null); then \
  export KPL_TEST_POSTGRES_URL=$$(scripts/postgres.sh url); \
  echo "==> PostgreSQL on $$KPL_TEST_POSTGRES_URL"; \
else \
  export KPL_TEST_POSTGRES_SKIP="scripts/postgres.sh start failed: $$(echo "$$pg_why" | tail -n 1)"; \
  echo "==> PostgreSQL did not start, its tests skip:"; echo "$$pg_why" | sed 's/^/    /'; \
fi;
endef

# pytest exits 5 when it collects nothing; that is a failure here, not a pass.
pytest: $(VENV)/.installed-test system-packages
	@$(WITH_POSTGRES) echo "==> pytest"; $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The Docker image is built and driven (docker-test) while pytest runs: the build waits mostly on
# downloads, so both together take little longer than pytest alone. PostgreSQL is started (and
# installed if need be) first, so the two never run apt-get at the same time.
test: lint system-packages
	@if scripts/postgres.sh start > /dev/null 2>&1; then \
	  export KPL_TEST_POSTGRES_URL=$$(scripts/postgres.sh url); fi; \
	scripts/docker-test.sh > $(VENV)/docker-test.log 2>&1 & docker_pid=$$!; \
	pytest_status=0; $(MAKE) --no-print-directory pytest || pytest_status=$$?; \
	docker_status=0; wait $$docker_pid || docker_status=$$?; \
	echo "==> docker-test (whole log: $(VENV)/docker-test.log)"; \
	tail -n 12 $(VENV)/docker-test.log | sed 's/^/    /'; \
	if [ $$docker_status != 0 ]; then echo "==> docker-test FAILED (exit $$docker_status)"; fi; \
	if [ $$pytest_status != 0 ]; then echo "==> pytest FAILED (exit $$pytest_status)"; fi; \
	[ $$pytest_status = 0 ] && [ $$docker_status = 0 ]

bench: $(VENV)/.installed-test
	@$(WITH_POSTGRES) if [ -f tests/bench/run.py ]; then $(BIN)/python tests/bench/run.py; \
	else echo "no benchmarks yet (tests/bench/run.py is absent)"; fi

# Builds the image for real and drives it (installs docker.io and starts dockerd as root if need
# be; without Docker Hub it builds a Debian base with debootstrap once), then runs two replicas
# of it on one PostgreSQL database. `SKIP:` where no engine can run.
docker-test: $(VENV)/.installed-test
	@$(WITH_POSTGRES) scripts/docker-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/e2e/artifacts
