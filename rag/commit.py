"""Embedding what changed and handing it to a store: the shared second half of
``rag.indexer.build_index`` and ``update_index`` (chunk, embed lazily several documents per
call, apply in one commit)."""
from __future__ import annotations

import itertools
import time
from typing import Iterator, Sequence

import numpy as np

from .chunk import Chunker, TokenLimit, index_text
from .embed import Embedder
from .errors import IndexWriteError
from .passages import chunk_document
from .progress import Progress, reporter
from .store import DocPassages, Store
from .types import Chunk, Document

EMBED_BATCH_PASSAGES = 1024  # passages of several documents embedded per call


def build_encoder(embedder: Embedder, passages: int) -> Embedder:
    """What a build of ``passages`` passages encodes with: ``for_index`` when the embedder's class
    declares it (e.g. bf16 for large builds, rag.embed.bulk), else the embedder. Looked up on the
    class, so a wrapper that forwards attributes (Ray, a cache) is never bypassed by its inner one's."""
    hook = getattr(type(embedder), "for_index", None)
    return hook(embedder, passages) if hook is not None else embedder


def commit(store: Store, expect: dict, manifest: dict | None, todo: list[Document], gone: list[str],
            *, embedder: Embedder, chunker: Chunker, batch_size: int, progress: Progress,
            skipped: Sequence) -> int:
    """Embed ``todo`` and apply it with the deletions ``gone`` (``manifest`` None: a full rebuild);
    returns how many passages were embedded."""
    counter = [0]
    upserts = embedded(todo, embedder, chunker, batch_size, progress, counter)
    first = next(upserts, None)
    dims = [p.vectors.shape[1] for p in ([first] if first is not None else []) if p.chunks]
    dim = dims[0] if dims else (manifest or {}).get("embedder", {}).get("dim")
    new_manifest = {
        **expect,
        "embedder": {**expect["embedder"], "dim": int(dim or embedder.dim),
                     "max_tokens": embedder.max_tokens or None},
        "tokenizer": f"tiktoken:{chunker.encoding}",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "skipped": [list(s) for s in skipped],
    }
    stream = itertools.chain([first], upserts) if first is not None else iter(())
    try:
        store.apply(new_manifest, stream, gone, full=manifest is None)
    except IndexWriteError:
        raise
    except OSError as exc:  # a store that does not say it itself: the reason and the file
        where_ = f": {exc.filename}" if exc.filename else ""
        raise IndexWriteError(f"cannot write the index ({exc.strerror or exc}{where_}): "
                              "the previous index is unchanged") from None
    return counter[0]


def embedded(todo: Sequence[Document], embedder: Embedder, chunker: Chunker, batch_size: int,
              progress: Progress, counter: list[int]) -> Iterator[DocPassages]:
    """Chunk ``todo``, then embed it lazily, several documents per encode call.

    Progress is reported in passages: ``(0, n, "loading the model")``, then
    ``(done, n, "embedding passages")`` (see ``rag.progress``).
    """
    limit = TokenLimit.of(embedder)
    chunked = [(d, chunk_document(d, chunker, embedder, limit)) for d in todo]
    total = sum(len(cs) for _, cs in chunked)
    embedder = build_encoder(embedder, total)
    report = reporter(progress)
    per_call = getattr(embedder, "passages_per_call", EMBED_BATCH_PASSAGES)  # Ray: fewer, larger jobs
    try:
        if total:
            report(0, total, "loading the model")
            load = getattr(embedder, "load", None)
            if load is not None:
                load()
            report(0, total, "embedding passages")
        pending: list[tuple[Document, list[Chunk]]] = []
        size = 0
        for n, (d, chunks) in enumerate(chunked):
            pending.append((d, chunks))
            size += len(chunks)
            if size >= per_call or n == len(chunked) - 1:
                texts = [index_text(c) for _, cs in pending for c in cs]
                vecs = embedder.encode(texts, "passage", batch_size=batch_size) if texts else None
                at = 0
                for doc, cs in pending:
                    v = vecs[at:at + len(cs)] if cs else None
                    at += len(cs)
                    yield DocPassages(doc.id, doc.content_hash, doc.title, doc.source, cs,
                                      v if v is not None else _empty(vecs))
                counter[0] += len(texts)
                if texts:
                    report(counter[0], total, "embedding passages")
                pending, size = [], 0
    finally:
        report.close()


def _empty(vecs: np.ndarray | None) -> np.ndarray:
    return np.zeros((0, vecs.shape[1] if vecs is not None else 0), np.float32)
