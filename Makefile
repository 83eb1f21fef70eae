# Runbook Router. Quick start: `make run` (serve on 127.0.0.1:8080), `make test` (everything CI runs).
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv run migrate check test lint unit system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(VENV)/bin/runbook-router migrate

run: venv
	mkdir -p data
	export RUNBOOK_ROUTER_LOG_FORMAT=$${RUNBOOK_ROUTER_LOG_FORMAT:-console}; \
	$(VENV)/bin/runbook-router migrate && $(VENV)/bin/runbook-router serve

check: venv
	$(VENV)/bin/runbook-router check

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
	$(VENV)/bin/ruff check app tests bench helm
	$(VENV)/bin/ruff format --check app tests bench helm
	$(VENV)/bin/mypy --strict app

test: venv system-deps lint
	$(PY) -m pytest -q

unit: venv
	$(PY) -m pytest -q tests/unit

bench: venv
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
