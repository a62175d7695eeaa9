# Two commands do all the set-up: `make demo` (the main job) and `make test`.
# Both create .venv on first use and reuse it after.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint system-deps clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# bubblewrap is the sandbox; install it where we may (root + apt), otherwise the
# grader warns loudly and falls back to rlimits only. chromium and a Japanese font are
# for the review page's browser test and the report screenshots (skipped without them).
SYSTEM_PACKAGES := bwrap:bubblewrap chromium:chromium fc-list:fonts-noto-cjk
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  if [ "$$pkg" = fonts-noto-cjk ]; then fc-list :lang=ja 2>/dev/null | grep -q . && continue; \
	  else command -v $$cmd >/dev/null 2>&1 && continue; fi; \
	  missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: missing$$missing: install bubblewrap for sandboxed grading;" \
	    "chromium and fonts-noto-cjk for the browser tests"; fi; fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

test: $(STAMP) system-deps lint
	$(PY) -m pytest -n 2 --dist loadfile --durations=25

demo: $(STAMP) system-deps
	$(VENV)/bin/autograder demo --out demo-out

clean:
	rm -rf $(VENV) demo-out
