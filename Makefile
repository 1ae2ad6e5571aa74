# Two commands: `make run` (launch the studio) and `make test` (the whole suite, real browser included).
# `make test-fast`: the quick tier while editing (no browser, no `slow` marks; about 2 minutes on 2 cores).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_TIMEOUT ?= 600
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test test-fast bench install browser requirements space-check clean distclean

run: $(STAMP)
	$(PY) app.py

test: $(STAMP) browser
	@rc=0; $(PY) -m pytest -q --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): that is a failure" >&2; fi; exit $$rc

test-fast: $(STAMP)
	@rc=0; $(PY) -m pytest -q -m "not browser and not slow" --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): that is a failure" >&2; fi; exit $$rc

install: $(STAMP)

# Create the virtual environment only when it is missing.
$(PY):
	$(PYTHON) -m venv $(VENV)

# (Re)install only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test,extras]'
	touch $(STAMP)

# Debian's chromium for the Playwright test (Playwright never downloads a browser here).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# Benchmarks in bench/ (results under bench/results/); `make bench NAME=x` runs one.
bench: $(STAMP)
	@if [ -n "$(NAME)" ]; then $(PY) -m imggen bench $(NAME); \
	else for f in bench/*.py; do n=$$(basename "$$f" .py); case "$$n" in __init__|common) continue;; esac; \
		echo "== bench $$n"; $(PY) -m imggen bench "$$n" || exit 1; done; fi

requirements: $(STAMP)
	$(PY) scripts/gen_requirements.py

# Rehearse a Hugging Face Space: a clean venv from requirements.txt, `python app.py` as a Space runs it, every API
# endpoint once -> bench/results/space.{json,md} (minutes: a fresh torch install).
space-check: $(STAMP)
	$(PY) scripts/space_check.py

clean:
	rm -rf tests/artifacts .pytest_cache .gradio
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
