# Two entry points (see README): `make book` and `make test`. Both check the system packages first, then
# set up .venv on first use, each with only the install sets it needs.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PROFILE ?= cpu
# JSON changes to the profile for `make book` and `make fill`, e.g. OVERRIDES='{"seeds": [0, 1, 2]}' (half the time)
OVERRIDES ?=
OVERRIDE_ARG := $(if $(OVERRIDES),--overrides '$(OVERRIDES)')
ENGINE ?= local
# Where torch and torchvision come from; empty: pip's own indexes (PyPI's Linux wheel brings the CUDA libraries).
# On Linux without a GPU, TORCH_INDEX=https://download.pytorch.org/whl/cpu on the first make installs the
# CPU-only build instead (about 4 GB less). Read once, when .venv's `read` set is installed.
TORCH_INDEX ?=
# The one system package: Chromium, for the browser check of `make test`. The book itself needs none (the cpu
# profile's Fashion-MNIST slice ships inside the package). Ubuntu names it chromium-browser (a snap underneath).
CHROMIUM_PACKAGE := $(shell grep -qs '^ID=ubuntu' /etc/os-release && echo chromium-browser || echo chromium)
CHROMIUM_HOW := Debian: sudo apt-get install chromium; Ubuntu: sudo apt-get install chromium-browser; macOS: brew install --cask chromium
HAVE_CHROMIUM := command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null
APT_INSTALL := apt-get install -y --no-install-recommends

export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PATH := $(BIN):$(PATH)

.PHONY: system book student paper fill bench test setup setup-dev lint unit chapters-ci nbval html-ci browser clean

# The install sets (README, "Install sets", gives their sizes). Each target installs only the sets it needs, each
# once (a stamp per set, redone when pyproject.toml or constraints.txt changes):
#   read: the package and what executes its chapters (pyproject.toml's `reader` extra); the sets below add to it
#   build: the website's builder (`build`); test: make test's tools (`test`); scale: Ray (`scale`)
#   handout: nbconvert alone (make student)
$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-read: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(if $(TORCH_INDEX),$(BIN)/pip install --quiet -c constraints.txt --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[reader]"
	touch $@

$(VENV)/.installed-build $(VENV)/.installed-test $(VENV)/.installed-scale: \
    $(VENV)/.installed-%: pyproject.toml constraints.txt $(VENV)/.installed-read
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$*]"
	touch $@

$(VENV)/.installed-handout: | $(VENV)/bin/python
	$(BIN)/pip install --quiet nbconvert
	touch $@

## make setup: what `make book` needs (read and build), and MathJax into .cache/vendor: afterwards the book
## builds without internet (a chapter's set-up cell only tries to fetch published runs, and trains offline).
setup: $(VENV)/.installed-read $(VENV)/.installed-build
	@$(BIN)/python -m resbook.site.mathjax

## make setup-dev: every set, what `make test` needs
setup-dev: setup $(VENV)/.installed-test $(VENV)/.installed-scale

## make system: install Chromium with apt-get where this user may (root or passwordless sudo). Elsewhere (no apt,
## no root) it says how and goes on: the browser check is then skipped, saying so. Only `make test` needs it.
## `apt-get update` runs only when the package lists lack it or are too old to fetch it.
system:
	@{ $(HAVE_CHROMIUM); } && exit 0; \
	if ! command -v apt-get >/dev/null; then \
	    echo "note: no Chromium, so the browser check will be skipped. To run it, install Chromium ($(CHROMIUM_HOW))." >&2; \
	    exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else \
	    echo "note: no Chromium and no root here, so the browser check will be skipped. To run it: sudo apt-get install $(CHROMIUM_PACKAGE)" >&2; \
	    exit 0; fi; \
	echo "Installing $(CHROMIUM_PACKAGE)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	if ! apt-cache show $(CHROMIUM_PACKAGE) >/dev/null 2>&1 || ! $$sudo $(APT_INSTALL) $(CHROMIUM_PACKAGE); then \
	    $$sudo apt-get update -qq && $$sudo $(APT_INSTALL) $(CHROMIUM_PACKAGE); fi

## make book: execute every chapter at PROFILE (default cpu) and build the HTML into _build/html, and a teacher's
## pack into _build/teaching (every figure with its caption in figures.zip; one slide deck per chapter)
## First the published runs of PROFILE are fetched where there are any (`resbook fetch`), then every run the
## chapters still need is trained (one progress bar in the terminal), then each chapter runs
## (a bar of its cells). A chapter that fails does not stop the others: every page is built (the failed one
## marked), then make fails.
book: setup
	@failed=0; \
	$(BIN)/python -m resbook fetch --profile $(PROFILE) || true; \
	$(BIN)/python -m resbook fill --profile $(PROFILE) $(OVERRIDE_ARG) || failed=1; \
	$(BIN)/python -m resbook execute --profile $(PROFILE) $(OVERRIDE_ARG) --out _build/executed/$(PROFILE) || failed=1; \
	$(BIN)/python -m resbook stage --executed _build/executed/$(PROFILE) --site _build/site && \
	$(BIN)/jupyter-book build _build/site --path-output . --warningiserror --nitpick --keep-going || exit 1; \
	echo "Front page: $(CURDIR)/_build/html/index.html"; \
	$(BIN)/python -m resbook teaching --executed _build/executed/$(PROFILE) --out _build/teaching || failed=$$((failed + 2)); \
	if [ $$((failed % 2)) = 1 ]; then echo "error: some chapters failed to execute (see above and their pages)" >&2; fi; \
	if [ $$failed -ge 2 ]; then echo "error: the teacher's pack (_build/teaching) failed (see above)" >&2; fi; \
	[ $$failed = 0 ]

## make student: the chapter notebooks without their solutions (cells tagged `solution`), for handing out
student: $(VENV)/.installed-handout
	$(BIN)/jupyter nbconvert --to notebook --TagRemovePreprocessor.enabled=True \
	    --TagRemovePreprocessor.remove_cell_tags solution --output-dir _build/student book/*.ipynb
	@echo "Student edition: $(CURDIR)/_build/student"

## make paper: the papers' scale (CIFAR-10 in $$RESBOOK_DATA, a CUDA GPU): fill the run cache, then build
paper:
	$(MAKE) fill book PROFILE=paper

## make fill: train every run the chapters need at PROFILE into the run cache, without building the book
## (ENGINE=ray: as Ray tasks, on a local cluster; installs the scale set)
fill: $(VENV)/.installed-read $(if $(filter ray,$(ENGINE)),$(VENV)/.installed-scale)
	$(BIN)/python -m resbook fill --profile $(PROFILE) $(OVERRIDE_ARG) --engine $(ENGINE)

## make bench: training speed of this machine, package vs a textbook baseline (prints a table; not a test)
bench: $(VENV)/.installed-read
	$(BIN)/python -m resbook.bench

## make test: lint, unit tests, chapters executed at `ci` and checked with nbval, book built strictly
test: system setup-dev lint unit chapters-ci nbval html-ci browser

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests

unit: setup-dev
	$(BIN)/pytest -q tests -m "not chapters"

chapters-ci: setup-dev
	$(BIN)/pytest -q tests -m chapters

nbval: setup-dev
	$(BIN)/pytest -q --nbval-lax -p no:cacheprovider _build/executed/ci/book

html-ci: setup
	$(BIN)/python -m resbook stage --executed _build/executed/ci --site _build/site-ci
	$(BIN)/jupyter-book build _build/site-ci --path-output _build/ci --warningiserror --nitpick --keep-going
	@echo "CI build of the book: $(CURDIR)/_build/ci/_build/html/index.html"

## every page of the CI build in headless Chromium; one screenshot per page in _build/screenshots
browser: $(VENV)/.installed-test
	@if ! { $(HAVE_CHROMIUM); }; then echo "browser check SKIPPED: no Chromium ($(CHROMIUM_HOW))"; exit 0; fi; \
	$(BIN)/python -m resbook.site.browser_check _build/ci/_build/html --screenshots _build/screenshots

clean:
	rm -rf _build
