"""The ONNX export of a sentence-transformers model: questions, and passages too.

Through torch (eager) the bundled MiniLM takes ~25 ms for one question on a 2-core CPU; the same
weights exported to ONNX and run by onnxruntime take ~10 ms and give the same vector (cosine
1.0000 to torch). The export is made once per model, checked against torch on probe texts, alone
and padded together (it is only used when every probe agrees to ``PARITY``), and kept in the cache
folder (``Settings.cache_dir``, default ``~/.cache/rag-articles``) for every later process, so a
process that only answers questions never loads torch. Index builds use it too: length-sorted
onnxruntime batches embed SciFact passages faster than sentence-transformers on torch (BENCHMARKS.md).

``precision="int8"`` adds ``model.int8.onnx`` beside it: the export's weight matrices quantised to
int8 per output channel (``quantize``), the matrices of each layer's feed-forward output left in
float (the most sensitive to rounding), checked against the float export on probe texts
(``INT8_PARITY``). Its vectors differ slightly from float ones, so an index records the precision
in its embedder id and is rebuilt when it changes. Export needs the ``onnx`` package; without it,
or when the export fails its check, torch does everything (float only; one warning).
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

from ..config import EMBED_PRECISIONS as PRECISIONS
from ..onnx_runtime import load_tokenizer, make_session, run_sorted, unit_rows

log = logging.getLogger(__name__)

FORMAT = 2
PARITY = 0.9999  # minimum cosine between the export's and torch's vectors on every probe
INT8_PARITY = 0.98  # minimum cosine between the int8 and the float export's vectors on every probe
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
INT8_KEEP_FLOAT = ("/output/dense/",)  # MatMuls left in float (the FFN output; not attention/output/)
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
    """Runs an exported sentence-transformers model (``precision`` fp32 or int8) on batches sorted
    by length and padded to their longest."""

    def __init__(self, folder: Path, threads: int | None = None, precision: str = "fp32",
                 model_file: str | None = None) -> None:
        self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"export format {self.meta.get('format')!r} is not {FORMAT}")
        self.precision = precision
        self.tokenizer = load_tokenizer(folder / "tokenizer.json")  # not truncated: run_sorted cuts
        self.session = make_session(folder / (model_file or MODEL_FILES[precision]), threads, arena=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

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


def quantize(folder: Path, out: Path) -> None:
    """Write ``out``: dynamic int8 quantisation of model.onnx's weight MatMuls,
    per output channel, except ``INT8_KEEP_FLOAT``; embeddings, LayerNorms and attention stay float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and "attention" not in n.name
            and any(k in n.name for k in INT8_KEEP_FLOAT)]
    quantize_dynamic(str(folder / "model.onnx"), str(out), per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_exclude=keep)


def int8_parity(folder: Path, model_file: str, threads: int | None = None) -> float:
    """Lowest cosine between the int8 model ``model_file`` and the float export over ``PROBES`` and ``PASSAGES``."""
    texts = list(PROBES) + list(PASSAGES)
    ref = OnnxQueryEncoder(folder, threads).encode(texts)
    got = OnnxQueryEncoder(folder, threads, "int8", model_file).encode(texts)
    return float((ref * got).sum(axis=1).min())


PASSAGES = (  # passage-like probes for the int8 check (news and science prose)
    "The envoy said on Tuesday that talks in Washington would resume next month, after sanctions "
    "relief was discussed with officials of both governments.",
    "Mutations in the BRCA1 gene increase the lifetime risk of breast and ovarian cancer; carriers "
    "were offered screening every six months in the 2019 cohort (n = 1,204).",
)


def load_or_export(model_ref: str, load_model, cache_dir: Path, threads: int | None = None,
                   precision: str = "fp32") -> OnnxQueryEncoder:
    """The export of ``model_ref`` cached under ``cache_dir``, made now (with ``load_model()``)
    if missing or broken, at ``precision`` (int8: quantised from it once, then checked);
    its session runs ``threads`` threads (None = automatic)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    folder = Path(cache_dir).expanduser() / "st-onnx" / fingerprint(model_ref)
    fp32 = _load_or_export_fp32(model_ref, load_model, folder, threads)
    if precision == "fp32":
        return fp32
    if (folder / MODEL_FILES["int8"]).is_file():
        try:
            return OnnxQueryEncoder(folder, threads, "int8")
        except Exception as exc:  # a damaged file: quantise again
            log.warning("int8 encoder %s is unusable (%s); quantising again", folder, exc)
    log.info("quantising the ONNX export of %s to int8 (once per model)", model_ref)
    partial = f".{MODEL_FILES['int8']}.{os.getpid()}.partial"
    try:
        quantize(folder, folder / partial)
        worst = int8_parity(folder, partial, threads)
        if worst < INT8_PARITY:
            raise ValueError(f"its int8 vectors differ from float ones (cosine {worst:.4f} < {INT8_PARITY})")
        os.replace(folder / partial, folder / MODEL_FILES["int8"])
    finally:
        (folder / partial).unlink(missing_ok=True)
    return OnnxQueryEncoder(folder, threads, "int8")


def _load_or_export_fp32(model_ref: str, load_model, folder: Path, threads: int | None) -> OnnxQueryEncoder:
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
        log.info("exporting %s to ONNX (once per model)", model_ref)
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
