# The two commands a user needs: `make demo` and `make test`. Both set everything up.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

PYTHON310 = $(shell for c in python3.10 "$$(pyenv root 2>/dev/null)/versions/3.10.13/bin/python"; do \
  "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1 && { echo "$$c"; break; }; done)

.PHONY: demo lint allocators test test-fast test-compat docs install benchmark benchmark-sampling benchmark-reader benchmark-stripping benchmark-swap benchmark-warmup-size benchmark-traffic constraints clean

# The demo's terminal is for its progress and summary (libraries log to a file). Only here:
# PYTHONWARNINGS=ignore would override the tests' filterwarnings (pyproject.toml).
demo: export PYTHONWARNINGS := ignore
demo: $(STAMP) allocators
	$(PY) -m pipelines.demo_pipeline

# Two xdist workers (the machine's two cores), handed one test at a time, the slowest
# modules first (tests/conftest.py): the whole suite, in about half the time of one process.
XDIST := -n 2 --maxschedchunk 1

test: lint allocators
	$(PY) -m pytest $(XDIST) tests

# The allocators the swap measures beside glibc's malloc (docs/swap.md): Debian's packages, the
# ones TF Serving's image would install. As root they are installed; anyone else is told how.
ALLOCATOR_PACKAGES := libjemalloc2 libtcmalloc-minimal4
allocators:
	@if /sbin/ldconfig -p | grep -q 'libjemalloc.so.2 ' && /sbin/ldconfig -p | grep -q 'libtcmalloc_minimal.so.4 '; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing $(ALLOCATOR_PACKAGES) (the swap's allocator candidates)"; \
	  apt-get install -y -qq --no-install-recommends $(ALLOCATOR_PACKAGES) >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $(ALLOCATOR_PACKAGES) >/dev/null; }; \
	else \
	  echo "note: the swap measures jemalloc and tcmalloc only where they are installed: sudo apt-get install $(ALLOCATOR_PACKAGES)"; \
	fi

# The linter (ruff, configured in pyproject.toml): the whole tree, zero findings.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The quick loop while developing: everything but whole pipelines and the installed CLI.
test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not e2e" tests

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any warning or broken link.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

install: $(STAMP)

# Cold start: no warmup vs InfraValidator-style vs ModelWarmer, plus the defaults sweep (~10 min).
benchmark: $(STAMP)
	$(PY) -m benchmarks.cold_start --sweep

# Sampling at 1M and 5M examples against a bare Beam read (~20 min, ~1 GB of data in runs/).
benchmark-sampling: $(STAMP)
	$(PY) -m benchmarks.sampling

# What checking each record's length costs the read: the component's TFRecord source against
# Beam's ReadFromTFRecord, bare and under uniform sampling, 1M examples in gzip and
# uncompressed shards (~10 min).
benchmark-reader: $(STAMP)
	$(PY) -m benchmarks.sampling --sizes 1000000 --compression gzip,none --base beam \
	  --cases beam-read+count,read+count,beam-uniform,uniform --report reader_guard.md

benchmark-stripping: $(STAMP)
	$(PY) -m benchmarks.stripping

# The version swap on the demo model, TFX's taxi Estimator and a ~1 GB model: per candidate
# (pools, allocator, threads), the serving version's p99 while the next loads and warms, the
# window and the peak RSS; each model measured twice, to see the verdicts agree (~35 min, ~2 GB in
# /tmp). Then the peak RSS against a TensorFlow C++ process doing the same swap (~10 min).
benchmark-swap: $(STAMP) allocators
	$(PY) -m benchmarks.swap --runs 2
	$(PY) -m benchmarks.swap_memory --model taxi --out benchmarks/results/swap_memory_taxi.md
	$(PY) -m benchmarks.swap_memory --model big --out benchmarks/results/swap_memory_big.md

# Replay time and cold start against records per combination: the default's choice (~15 min).
benchmark-warmup-size: $(STAMP)
	$(PY) -m benchmarks.warmup_size

# Warm from traffic: the traffic profile against a bare Beam read+count of the same REST logs
# (50k lines; --lines 1000000 for the issue's size), and the cold start on the traffic's own
# mix after no warmup, the Examples-driven defaults and the traffic-driven warmup (~12 min).
benchmark-traffic: $(STAMP)
	$(PY) -m benchmarks.traffic

# Python 3.10 exactly: `python3.10` if it really runs (a pyenv shim may not), else pyenv's 3.10.13.
# pip, setuptools and wheel are upgraded first: the bundled pip 23.0 backtracks for minutes, and
# the bundled setuptools 65 cannot read pyproject's SPDX `license` (the Dockerfile test builds
# the package without build isolation).
$(STAMP): pyproject.toml constraints.txt
	@set -e; py=""; \
	for c in python3.10 "$$(pyenv root 2>/dev/null)/versions/3.10.13/bin/python"; do \
	  if "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; then py="$$c"; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: Python 3.10 not found. Install it (e.g. 'pyenv install 3.10.13' or your OS's python3.10 package) and re-run." >&2; exit 1; \
	fi; \
	echo "Using $$py"; \
	[ -x $(PY) ] || "$$py" -m venv $(VENV); \
	$(PY) -m pip install -q --upgrade pip setuptools==84.2.1 wheel==0.48.0; \
	$(PY) -m pip install -q -c constraints.txt -e '.[test,docs,kfp,airflow]'
	touch $(STAMP)

# The other TFX releases users run (Python 3.10): each pinned stack (constraints/tfx-<v>.txt) in a
# venv of its own, the fast tests and the demo pipeline. Without TF_USE_LEGACY_KERAS: those stacks'
# Keras 2 is tf.keras (tfx_warmup.compat sets it only beside tf_keras). CI runs it after `make test`.
# The demo's swap measures each case once (TFX_WARMUP_SWAP_REPETITIONS, as in the suite's
# pipelines): CI checks that it runs on these stacks, not its figures.
COMPAT_TFX := 1.14 1.15
test-compat: $(foreach v,$(COMPAT_TFX),.venv-tfx$(v)/.installed)
	@set -e; for v in $(COMPAT_TFX); do \
	  echo "== TFX $$v: fast tests, then the demo pipeline"; \
	  env -u TF_USE_LEGACY_KERAS .venv-tfx$$v/bin/python -m pytest $(XDIST) -m "not e2e and not tfx116" -p no:cacheprovider tests; \
	  env -u TF_USE_LEGACY_KERAS PYTHONWARNINGS=ignore TFX_WARMUP_SWAP_REPETITIONS=1 \
	    .venv-tfx$$v/bin/python -m pipelines.demo_pipeline --root runs/demo-tfx$$v; \
	done

.venv-tfx%/.installed: pyproject.toml constraints/tfx-%.txt
	@[ -n "$(PYTHON310)" ] || { echo "error: Python 3.10 not found (see 'make install')." >&2; exit 1; }
	[ -x .venv-tfx$*/bin/python ] || $(PYTHON310) -m venv .venv-tfx$*
	.venv-tfx$*/bin/python -m pip install -q --upgrade pip setuptools==84.2.1 wheel==0.48.0
	.venv-tfx$*/bin/python -m pip install -q -c constraints/tfx-$*.txt -e '.[test]'
	touch $@

# Re-pin after changing dependencies in pyproject.toml.
constraints: $(STAMP)
	( echo "# Pinned from a working install of tfx[kfp]==1.16.0, tensorflow-serving-api==2.16.1 and apache-airflow==2.10.5 on Python 3.10."; \
	  echo "# Regenerate with: make constraints"; \
	  $(PY) -m pip freeze --exclude-editable | grep -vi '^tfx-warmup' ) > constraints.txt

clean:
	rm -rf $(VENV) .venv-tfx* runs site
