"""Index builds in bfloat16: many passages through torch with bf16 autocast, on CPUs that
compute bf16 natively (AVX512-BF16 or AMX: most server CPUs since 2020–2022).

The weights stay float32 and every product accumulates in float32; only the matrix inputs are
rounded to bf16. On SciFact passages the vectors are within cosine 0.9999 of float32's
(BENCHMARKS.md: mean 0.99998), 1,000 times closer than the int8 export's, so they are the
model's own vectors for every purpose: the index records the same embedder id, questions and
the answerers' sentences keep using the fp32 ONNX export, and an index built on a CPU without
bf16 is interchangeable with one built with it. What changes is speed: ~1.9x a float32 build
on the 2-core machine of BENCHMARKS.md.
"""
from __future__ import annotations

import logging
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
    """The embedder ``inner`` (sentence-transformers) for one index build, passages in bf16."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name: str):  # model_id, dim, max_tokens, count_tokens, ...
        return getattr(self.inner, name)

    def load(self) -> None:
        _ = self.inner.model

    def encode(self, texts: Sequence[str], kind: str = "passage", *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        import torch

        if len(texts) == 0 or kind != "passage":
            return self.inner.encode(texts, kind, batch_size=batch_size, progress=progress)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            vecs = self.inner.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                           convert_to_tensor=True, normalize_embeddings=False)
        vecs = vecs.float().cpu().numpy()
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vecs, dtype=np.float32)
