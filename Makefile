# Two commands: `make run` (create the environment, start the service) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test clean

run: $(VENV)/.installed
	$(BIN)/ildscreen serve

# The Jetson runs JetPack 6's onnxruntime 1.22: a second small environment checks the shipped
# models on it (tests/edge/test_onnxruntime_122.py). Not an ILDSCREEN_ variable: the service
# refuses settings it does not know.
ORT122 ?= .venv-ort122
export ORT122_PYTHON ?= $(abspath $(ORT122))/bin/python

# axe-core (MPL-2.0) for the browser tests' accessibility check, from npm; never served by the app.
AXE = .ci/node/node_modules/axe-core/axe.min.js

test: $(VENV)/.installed-dev $(ORT122)/.installed $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(AXE):
	npm install --prefix .ci/node --no-audit --no-fund axe-core@4.14.1

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,train]"
	touch $(VENV)/.installed $@

$(ORT122)/.installed:
	$(PYTHON) -m venv $(ORT122)
	$(ORT122)/bin/python -m pip install --quiet "onnxruntime==1.22.1" "numpy>=1.26"
	touch $@

clean:
	rm -rf $(VENV) $(ORT122) .ci/node build *.egg-info
