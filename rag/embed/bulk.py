"""Index builds in bfloat16: many passages through a bf16 copy of the torch model, on CPUs that
compute bf16 natively (AVX512-BF16 or AMX: most server CPUs since 2020–2022).

oneDNN's bf16 matrix products accumulate in float32; weights and activations are bf16. On
SciFact passages the vectors are within cosine 0.9999 of float32's (BENCHMARKS.md: mean
0.99995, min 0.99992), ~100 times closer than the int8 export's, so they are the
model's own vectors for every purpose: the index records the same embedder id, questions and
the answerers' sentences keep using the fp32 ONNX export, and an index built on a CPU without
bf16 is interchangeable with one built with it. What changes is speed: ~2.2x torch's float32
and ~3.5x the fp32 export's on the 2-core machine of BENCHMARKS.md.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

BULK_MIN = 256  # builds of fewer passages (an upload) stay on the ONNX export: no torch start-up


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (torch's oneDNN says so)."""
    try:
        import torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # an old torch, or none: float32
        return False


class Bf16Passages:
    """The embedder ``inner`` (sentence-transformers) for one index build, passages in bf16:
    bf16 copies of its torch model (the float one stays as it is for anything else), one per
    worker thread. ``workers`` threads of one torch thread each (default: one per core, at most
    4) take alternate length-sorted batches: 8 % faster than one call on two torch threads here,
    with the same vectors; each has its own copy, so no tokenizer is shared between threads."""

    def __init__(self, inner, workers: int | None = None) -> None:
        self.inner = inner
        self.workers = max(1, workers if workers is not None else min(os.cpu_count() or 1, 4))
        self._models: list = []

    def __getattr__(self, name: str):  # model_id, dim, max_tokens, count_tokens, ...
        return getattr(self.inner, name)

    def load(self) -> None:
        if not self._models:
            import copy

            import torch

            first = copy.deepcopy(self.inner.model).to(torch.bfloat16)
            self._models = [first] + [copy.deepcopy(first) for _ in range(self.workers - 1)]

    def encode(self, texts: Sequence[str], kind: str = "passage", *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        import torch

        if len(texts) == 0 or kind != "passage":
            return self.inner.encode(texts, kind, batch_size=batch_size, progress=progress)
        self.load()
        texts = list(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths batch together
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        n = min(self.workers, len(batches))
        out = np.zeros((len(texts), self.inner.dim), dtype=np.float32)

        def run(k: int) -> None:
            for idx in batches[k::n]:
                with torch.inference_mode():
                    v = self._models[k].encode([texts[i] for i in idx], batch_size=len(idx),
                                               convert_to_tensor=True, normalize_embeddings=False)
                out[idx] = v.float().cpu().numpy()

        threads = torch.get_num_threads()
        torch.set_num_threads(1 if n > 1 else threads)
        try:
            with ThreadPoolExecutor(n) as pool:
                for f in [pool.submit(run, k) for k in range(n)]:
                    f.result()
        finally:
            torch.set_num_threads(threads)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
