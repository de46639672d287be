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
