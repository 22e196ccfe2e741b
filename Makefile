VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test install benchmarks clean

run: $(INSTALLED)
	$(VENV)/bin/defectgen serve

test: $(INSTALLED)
	$(PYTHON) -m pytest

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

benchmarks: $(INSTALLED)
	for script in benchmarks/*.py; do $(PYTHON) $$script || exit 1; done

clean:
	rm -rf $(VENV) .defectgen-data
