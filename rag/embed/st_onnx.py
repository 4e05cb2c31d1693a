"""Question-time encoding for the sentence-transformers backend: a one-time ONNX export.

A question is one short text. Through torch (eager) the bundled MiniLM takes ~25 ms for it on
a 2-core CPU; the same weights exported to ONNX and run by onnxruntime take ~10 ms and give
the same vector (cosine 1.0000 to torch). The export is made once per model, checked against
torch on probe texts, alone and padded together (it is only used when every probe agrees to
``PARITY``), and kept in the cache folder (``Settings.cache_dir``, default ``~/.cache/rag-articles``)
for every later process. It also encodes the few sentences an answerer scores, so a process that
only answers questions never loads torch. Index builds stay on torch: sentence-transformers
batches passages by length, which padded onnxruntime batches did not beat. Export needs the
``onnx`` package; without it, or when the export fails its check, torch does everything (one warning).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..onnx_runtime import load_tokenizer, make_session, run_sorted, unit_rows

log = logging.getLogger(__name__)

FORMAT = 2
PARITY = 0.9999  # minimum cosine between the export's and torch's vectors on every probe
PROBES = ("", "What did the envoy say about sanctions?", "  Ünïcode, digits 1,234 and punctuation!?  ",
          "A long passage. " * 200)  # the last one is cut at max_seq_length


def model_dim(model) -> int:
    """Vector size of a loaded SentenceTransformer (the method was renamed in version 5)."""
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get_dim())


def fingerprint(model_ref: str) -> str:
    """Identity of a model: its name, and for a local folder the names, sizes and times of its files."""
    h = hashlib.sha256(f"{FORMAT}\0{model_ref}".encode())
    folder = Path(model_ref)
    if folder.is_dir():
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            st = f.stat()
            h.update(f"\0{f.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


class OnnxQueryEncoder:
    """Runs an exported sentence-transformers model on small batches (padded to their longest)."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"export format {self.meta.get('format')!r} is not {FORMAT}")
        self.tokenizer = load_tokenizer(folder / "tokenizer.json")  # not truncated: run_sorted cuts
        self.session = make_session(folder / "model.onnx", threads, arena=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Unit vectors in input order (the model's own pooling and normalisation)."""
        texts = [t.strip().lower() if self.meta.get("lower") else t.strip() for t in texts]
        return unit_rows(run_sorted(self.session, self.tokenizer, texts, max_len=int(self.meta["max_seq_length"]),
                                    batch_size=batch_size, pool=lambda emb: emb))


def export(model, folder: Path) -> None:
    """Write ``model`` (a loaded SentenceTransformer) as model.onnx + tokenizer.json + meta.json."""
    import torch

    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    names = list(tokenize(["x"]).keys())

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors)))["sentence_embedding"]

    sample = tokenize(["a sample sentence", "and a second, longer sample sentence"])
    folder.mkdir(parents=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapped().eval(), tuple(sample[n] for n in names), str(folder / "model.onnx"),
                          input_names=names, output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}})
    model.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    meta = {"format": FORMAT, "max_seq_length": int(model.max_seq_length),
            "lower": bool(getattr(model[0], "do_lower_case", False)), "dim": model_dim(model)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def parity(encoder: OnnxQueryEncoder, model) -> float:
    """Lowest cosine between the export's and torch's vectors over ``PROBES``, alone and padded together."""
    ref = model.encode(list(PROBES), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    alone = np.vstack([encoder.encode([p]) for p in PROBES])
    together = encoder.encode(PROBES)
    return float(min((ref * alone).sum(axis=1).min(), (ref * together).sum(axis=1).min()))


def load_or_export(model_ref: str, load_model, cache_dir: Path, threads: int | None = None) -> OnnxQueryEncoder:
    """The export of ``model_ref`` cached under ``cache_dir``, made now (with ``load_model()``)
    if missing or broken; its session runs ``threads`` threads (None = automatic)."""
    folder = Path(cache_dir).expanduser() / "st-onnx" / fingerprint(model_ref)
    if (folder / "meta.json").is_file():
        try:
            return OnnxQueryEncoder(folder, threads)
        except Exception as exc:  # a damaged cache entry: export again
            log.warning("query encoder cache %s is unusable (%s); exporting again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    model = load_model()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        log.info("exporting the query encoder of %s to ONNX (once per model)", model_ref)
        export(model, tmp / "x")
        encoder = OnnxQueryEncoder(tmp / "x", threads)
        worst = parity(encoder, model)
        if worst < PARITY:
            raise ValueError(f"its vectors differ from torch's (cosine {worst:.5f} < {PARITY})")
        try:
            os.replace(tmp / "x", folder)
        except OSError:  # another process has just written it: theirs is as good
            pass
        return encoder  # holds no open files: the folder may move
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
