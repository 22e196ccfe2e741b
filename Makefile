VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# Servers the tests start for the production stack (PostgreSQL 15 ships with the machine), the compose
# checker, and the browser the dashboard's tests drive; the benchmarks also need wrk. Each is a Debian
# package, or package:command where the command it installs has another name.
SYSTEM_TOOLS := redis-server docker-compose chromium chromium-driver:chromedriver

.PHONY: run test install system-tools benchmarks clean

# `make run HOST=0.0.0.0 PORT=9000` (or those in the environment); else DEFECTGEN_HOST/PORT, else 127.0.0.1:8000.
run: $(INSTALLED)
	$(VENV)/bin/defectgen serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# The suite runs in two processes, one per stack (tests/conftest.py groups them): most of its time is spent
# waiting on the stacks' workers, which train on one thread each. `make test PYTEST_PROCESSES=0` runs it in one.
PYTEST_PROCESSES ?= 2

test: $(INSTALLED) system-tools
	$(VENV)/bin/ruff check .
	$(PYTHON) -m pytest $(if $(filter-out 0,$(PYTEST_PROCESSES)),-n $(PYTEST_PROCESSES) --dist loadgroup)

system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do \
		command -v $${tool##*:} >/dev/null || missing="$$missing $${tool%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

benchmarks: SYSTEM_TOOLS += wrk
benchmarks: $(INSTALLED) system-tools
	$(PYTHON) -m pip install --quiet -e '.[test,benchmarks]'
	for script in benchmarks/*.py; do $(PYTHON) $$script || exit 1; done

clean:
	rm -rf $(VENV) .defectgen-data
