# The two entry points of the README. Both create the virtual environment on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml setup.py $(wildcard native/src/*.c native/src/*.h) scripts/bootstrap
	bash scripts/bootstrap
	touch $@

.PHONY: demo test setup
setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cuekit demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)
