# Runbook Router. Quick start: `make run` (serve on 127.0.0.1:8080), `make test` (everything CI runs).
VENV    ?= .venv
PY      := $(VENV)/bin/python
SUM     := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# What serving needs (the app; PostgreSQL's driver when the database URL names PostgreSQL),
# and on top of it what developing needs (tests, linters, Helm and browser test tools).
EXTRAS    := $(if $(filter postgresql%,$(RUNBOOK_ROUTER_DATABASE_URL)),[postgres])
RUN_STAMP := $(VENV)/.installed-run$(if $(EXTRAS),-postgres)-$(SUM)
DEV_STAMP := $(VENV)/.installed-dev-$(SUM)
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)
IMAGE   ?= runbook-router:$(VERSION)
# docker or podman; empty: the first of them whose engine answers (a bare client does not).
ENGINE  ?=
FIND_ENGINE = engine="$(ENGINE)"; \
	for e in docker podman; do [ -n "$$engine" ] && break; \
	  timeout 20 $$e info >/dev/null 2>&1 && engine=$$e; done; \
	if [ -z "$$engine" ]; then \
	  echo "make $@: no container engine found (docker or podman with a running engine);" \
	       "install one, or build the Dockerfile where one runs" >&2; exit 1; fi

.PHONY: venv run migrate check test lint unit system-deps bench image push clean

$(RUN_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.$(EXTRAS)'
	rm -f $(VENV)/.installed-run*; touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-dev-*; touch $(DEV_STAMP)

venv: $(DEV_STAMP)

migrate: $(RUN_STAMP)
	$(VENV)/bin/runbook-router migrate

# `serve --migrate` upgrades the schema first (SQLite and PostgreSQL alike).
run: $(RUN_STAMP)
	mkdir -p data
	export RUNBOOK_ROUTER_LOG_FORMAT=$${RUNBOOK_ROUTER_LOG_FORMAT:-console}; \
	$(VENV)/bin/runbook-router serve --migrate

check: $(RUN_STAMP)
	$(VENV)/bin/runbook-router check

# The container image (Dockerfile), e.g. `make push IMAGE=registry.example.com/ops/runbook-router:0.1.0`
# for the Helm chart's image.repository and image.tag.
image:
	@$(FIND_ENGINE); echo "$$engine build -t $(IMAGE) ."; $$engine build -t $(IMAGE) .

push: image
	@$(FIND_ENGINE); echo "$$engine push $(IMAGE)"; $$engine push $(IMAGE)

# Debian packages the end-to-end tests run for real; installed only when root with apt.
system-deps:
	@missing=""; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	if [ -z "$$missing" ]; then echo "system packages present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing:$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "not root: end-to-end tests needing$$missing will skip"; fi

lint: venv
	$(VENV)/bin/ruff check app tests bench helm harness
	$(VENV)/bin/ruff format --check app tests bench helm harness
	$(VENV)/bin/mypy --strict app
	$(VENV)/bin/mypy tests bench harness

test: venv system-deps lint
	$(PY) -m pytest -q

unit: venv
	$(PY) -m pytest -q tests/unit

bench: venv
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
