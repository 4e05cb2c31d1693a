"""Passage embedding spread over Ray workers: a Ray Data pipeline behind the Embedder role.

``RayEmbedder`` wraps the process's own embedder: questions (and other small jobs) are
encoded in process as before; an index build's passages go through ::

    ray.data.from_items([{"i": row, "text": passage}, ...])
      .map_batches(PassageEncoder, concurrency=N, batch_size=B, num_gpus=G)   # one model per actor

and come back in their original order to the same incremental indexer (either store).
``address``: ``"local"`` starts (or reuses) a Ray cluster on this machine, on the loopback
interface and without the dashboard; anything else (``auto``, ``ray://head:10001``,
``head:6379``) is handed to ``ray.init`` to join that cluster. Every worker needs this package
and the model installed (see README, "Running Ray on a cluster").
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from ..errors import RagError
from . import EMBEDDERS, Embedder, Kind, _load_builtins

log = logging.getLogger(__name__)

LOCAL = "local"
MIN_RAY_JOB = 256  # fewer passages than this are embedded in process (starting actors costs more)
PASSAGES_PER_CALL = 20_000  # the indexer hands over this many per encode call: each call starts actors


class PassageEncoder:
    """The Ray Data callable class: each actor builds its embedder once, then encodes batches."""

    def __init__(self, backend: str, model: str, device: str, threads: int, precision: str = "auto") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        # the single process's vectors: its int8 export, else torch (bf16 where ``for_index`` picks
        # it, as index builds do); the options the backend takes (the registry is strict)
        _load_builtins()
        runtime = "onnx" if precision == "int8" else "torch"
        emb = EMBEDDERS.create_from(backend, {"query_runtime": runtime, "device": device, "threads": threads or None,
                                              "precision": precision}, model=model)
        self.embedder = emb.for_index(PASSAGES_PER_CALL) if hasattr(emb, "for_index") else emb

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vecs = self.embedder.encode([str(t) for t in batch["text"]], "passage", batch_size=len(batch["text"]))
        return {"i": batch["i"], "vec": np.asarray(vecs, dtype=np.float32)}


def ray_connect(address: str = LOCAL) -> None:
    """Start or join a Ray cluster once per process (a no-op when already connected)."""
    try:
        import ray
    except ImportError:
        raise RagError("Ray is not installed: pip install 'rag-articles[ray]'") from None
    if ray.is_initialized():
        return
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if address in ("", LOCAL):
            # a cluster of this machine only: workers inherit this process's environment
            ray.init(_node_ip_address="127.0.0.1", **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
        raise RagError(f"cannot start or reach the Ray cluster {address!r}: "
                       f"{' '.join(str(exc).split())[:300]}") from None


class RayEmbedder:
    """An Embedder whose large passage jobs run as a Ray Data pipeline (see the module docstring)."""

    def __init__(self, local: Embedder, *, backend: str, model: str = "", address: str = LOCAL,
                 concurrency: int = 2, batch_size: int = 64, num_gpus: float = 0.0,
                 device: str = "auto", precision: str = "auto", min_job: int = MIN_RAY_JOB) -> None:
        if concurrency < 1 or batch_size < 1 or num_gpus < 0:
            raise RagError("Ray embedding needs concurrency >= 1, batch_size >= 1 and num_gpus >= 0")
        self.local = local
        self.backend, self.model, self.device, self.precision = backend, model, device, precision
        self.address = address or LOCAL
        self.concurrency, self.batch_size, self.num_gpus = int(concurrency), int(batch_size), float(num_gpus)
        self.min_job = min_job
        self.model_id = local.model_id
        self.passages_per_call = PASSAGES_PER_CALL

    def __getattr__(self, name: str):  # dim, max_tokens, count_tokens... of the local embedder
        if name == "local":
            raise AttributeError(name)
        return getattr(self.local, name)

    def encode(self, texts: Sequence[str], kind: Kind = "passage", *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        if kind == "query" or len(texts) < self.min_job:
            return self.local.encode(texts, kind, batch_size=batch_size, progress=progress)
        return self.encode_on_ray(texts, progress=progress)

    def encode_on_ray(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts`` on the cluster; rows in the order of ``texts``."""
        ray_connect(self.address)
        import ray

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        ctx.execution_options.verbose_progress = False
        if not log.isEnabledFor(logging.INFO):  # Ray Data's own progress lines only with `rag -v`
            logging.getLogger("ray.data").setLevel(logging.WARNING)
        # one torch thread per actor on CPU, so N actors use N cores instead of fighting over them
        threads = 0 if self.num_gpus > 0 else 1
        blocks = max(1, min(len(texts) // self.batch_size, self.concurrency * 8))
        ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=blocks)
        ds = ds.map_batches(PassageEncoder, batch_size=self.batch_size, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=self.concurrency),  # `concurrency=` before 2.51
                            num_gpus=self.num_gpus or None,
                            num_cpus=None if self.num_gpus else 1,
                            fn_constructor_kwargs={"backend": self.backend, "model": self.model,
                                                   "device": self.device, "threads": threads,
                                                   "precision": self.precision})
        log.info("embedding %d passages on Ray (%d workers, batches of %d, %s GPU each)",
                 len(texts), self.concurrency, self.batch_size, self.num_gpus or "no")
        out: np.ndarray | None = None
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                vecs = np.asarray(batch["vec"], dtype=np.float32)
                if out is None:
                    out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
                out[np.asarray(batch["i"], dtype=np.int64)] = vecs
        except RagError:
            raise
        except Exception as exc:
            raise RagError(f"embedding on Ray failed: {' '.join(str(exc).split())[:300]}") from None
        if out is None:
            raise RagError("embedding on Ray returned nothing")
        return out


def ray_embedder(local: Embedder, settings, address: str | None = None) -> Embedder:
    """``local`` itself when Ray is off (no address in ``address`` or ``settings.ray_address``),
    else a RayEmbedder configured from ``settings`` (``ray_concurrency``, ``ray_batch_size``,
    ``ray_num_gpus``, ``embed_device``, ``embed_precision``, ``ray_min_passages``)."""
    address = address if address is not None else settings.ray_address
    if not address:
        return local
    return RayEmbedder(local, backend=settings.embed_backend, model=settings.embed_model, address=address,
                       concurrency=settings.ray_concurrency, batch_size=settings.ray_batch_size,
                       num_gpus=settings.ray_num_gpus, device=settings.embed_device,
                       precision=settings.embed_precision, min_job=settings.ray_min_passages)
