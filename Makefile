# Two entry points (see README): `make book` and `make test`. Both check the system packages first, then
# set up .venv on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PROFILE ?= cpu
# Debian packages that pip cannot install; add one word here for each a later need brings.
# chromium: the browser check of the built pages; dataset-fashion-mnist: the real images of Chapter 1 (30 MB).
SYSTEM_PACKAGES := chromium dataset-fashion-mnist
APT_INSTALL := apt-get install -y --no-install-recommends

export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PATH := $(BIN):$(PATH)

.PHONY: system book student paper fill bench test setup lint unit chapters-ci nbval html-ci browser clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

## make system: install the missing SYSTEM_PACKAGES with apt-get where this user may (root or passwordless
## sudo); otherwise stop at once with the one command to run. First, so a missing package costs seconds.
## `apt-get update` runs only when the package lists lack a package or are too old to fetch it.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo -n " $$p"; done); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else \
	    echo "error: missing Debian package(s):$$missing; run: sudo apt-get update && sudo $(APT_INSTALL)$$missing" >&2; \
	    exit 1; fi; \
	echo "Installing Debian package(s):$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	if ! apt-cache show $$missing >/dev/null 2>&1 || ! $$sudo $(APT_INSTALL) $$missing; then \
	    $$sudo apt-get update -qq && $$sudo $(APT_INSTALL) $$missing; fi

## make book: execute every chapter at PROFILE (default cpu) and build the HTML into _build/html
## First the published runs of PROFILE are fetched where there are any (`resbook fetch`), then every run the
## chapters still need is trained (one progress bar in the terminal), then each chapter runs
## (a bar of its cells). A chapter that fails does not stop the others: every page is built (the failed one
## marked), then make fails.
book: system setup
	@failed=0; \
	$(BIN)/python -m resbook fetch --profile $(PROFILE) || true; \
	$(BIN)/python -m resbook fill --profile $(PROFILE) || failed=1; \
	$(BIN)/python -m resbook execute --profile $(PROFILE) --out _build/executed/$(PROFILE) || failed=1; \
	$(BIN)/python -m resbook stage --executed _build/executed/$(PROFILE) --site _build/site && \
	$(BIN)/jupyter-book build _build/site --path-output . --warningiserror --nitpick --keep-going || exit 1; \
	echo "Front page: $(CURDIR)/_build/html/index.html"; \
	if [ $$failed = 1 ]; then echo "error: some chapters failed to execute (see above and their pages)" >&2; fi; \
	exit $$failed

## make student: the chapter notebooks without their solutions (cells tagged `solution`), for handing out
student: setup
	$(BIN)/jupyter nbconvert --to notebook --TagRemovePreprocessor.enabled=True \
	    --TagRemovePreprocessor.remove_cell_tags solution --output-dir _build/student book/*.ipynb
	@echo "Student edition: $(CURDIR)/_build/student"

## make paper: the papers' scale (CIFAR-10 in $$RESBOOK_DATA, a CUDA GPU): fill the run cache, then build
paper:
	$(MAKE) fill book PROFILE=paper

## make fill: train every run the chapters need at PROFILE into the run cache, without building the book
fill: setup
	$(BIN)/python -m resbook fill --profile $(PROFILE)

## make bench: training speed of this machine, package vs a textbook baseline (prints a table; not a test)
bench: setup
	$(BIN)/python -m resbook.bench

## make test: lint, unit tests, chapters executed at `ci` and checked with nbval, book built strictly
test: system setup lint unit chapters-ci nbval html-ci browser

lint: setup
	$(BIN)/ruff check src tests

unit: setup
	$(BIN)/pytest -q tests -m "not chapters"

chapters-ci: setup
	$(BIN)/pytest -q tests -m chapters

nbval: setup
	$(BIN)/pytest -q --nbval-lax -p no:cacheprovider _build/executed/ci/book

html-ci: setup
	$(BIN)/python -m resbook stage --executed _build/executed/ci --site _build/site-ci
	$(BIN)/jupyter-book build _build/site-ci --path-output _build/ci --warningiserror --nitpick --keep-going
	@echo "CI build of the book: $(CURDIR)/_build/ci/_build/html/index.html"

## every page of the CI build in headless Chromium; one screenshot per page in _build/screenshots
browser: setup
	$(BIN)/python -m resbook.site.browser_check _build/ci/_build/html --screenshots _build/screenshots

clean:
	rm -rf _build
