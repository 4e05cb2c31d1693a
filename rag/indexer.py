"""Incremental (re)building: embed only documents that are new or changed since the last build."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import store
from .bm25 import Analyzer, BM25Index
from .chunk import Chunker, TokenLimit, index_text
from .embed import Embedder
from .errors import IndexMismatchError, IndexMissingError
from .progress import Progress, reporter
from .types import Chunk, Document

log = logging.getLogger(__name__)

BLOCK = 256  # passages per embedding call: the unit of progress


@dataclass
class BuildReport:
    """What a (re)build did. Titles name the documents added, changed and removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    documents: int = 0
    passages: int = 0
    embedded: int = 0  # passages embedded in this build
    seconds: float = 0.0
    full: bool = False  # everything was rebuilt (first build, or model/chunking changed)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def wrote(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.full)

    def summary(self) -> str:
        lines = []
        for label, items in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            lines += [f"{label}: {t}" for t in items]
        lines += [f"skipped {f}: {why}" for f, why in self.skipped]
        state = "rebuilt everything" if self.full else ("updated" if self.wrote else "up to date")
        lines.append(f"index {state}: {self.documents} documents, {self.passages} passages "
                     f"({self.embedded} embedded, {self.unchanged} documents unchanged) in {self.seconds:.1f}s")
        return "\n".join(lines)


def expected_manifest(embedder: Embedder, chunker: Chunker, analyzer: Analyzer) -> dict:
    """The manifest fields that must match for an index to be reused or loaded."""
    return {"embedder": {"model_id": embedder.model_id},
            "chunking": chunker.params(), "bm25": analyzer.params()}


def _compatible(manifest: dict | None, expect: dict) -> bool:
    if manifest is None:
        return False
    try:
        store.check_manifest(manifest, expect)
    except IndexMismatchError:
        return False
    return True


def build_index(docs: Sequence[Document], index_dir: Path, *, embedder: Embedder, chunker: Chunker,
                analyzer: Analyzer | None = None, progress: Progress = False,
                skipped: Sequence[tuple[str, str]] = (), batch_size: int = 32) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``docs``; the old index stays live until done."""
    t0 = time.perf_counter()
    analyzer = analyzer or Analyzer()
    expect = expected_manifest(embedder, chunker, analyzer)
    manifest = store.read_manifest(index_dir)
    full = not _compatible(manifest, expect)
    if manifest is not None and full:
        log.info("index settings changed (model or chunking): rebuilding everything")
    old_docs: dict = {} if full else manifest.get("documents", {})
    report = BuildReport(full=full, skipped=list(skipped), documents=len(docs))
    _check_unique(docs)
    new_ids = {d.id for d in docs}
    for d in docs:
        old = old_docs.get(d.id)
        if old is None:
            report.added.append(d.title)
        elif old["hash"] != d.content_hash:
            report.changed.append(d.title)
        else:
            report.unchanged += 1
    report.removed = [meta["title"] for i, meta in old_docs.items() if i not in new_ids]
    if not report.wrote:
        report.passages = manifest.get("passages", 0)
        report.seconds = time.perf_counter() - t0
        return report

    reuse = _reusable(index_dir, expect, old_docs, docs)
    fresh_chunks = chunk_documents([d for d in docs if d.id not in reuse], chunker, embedder)
    chunks: list[Chunk] = []
    vectors: list[np.ndarray | None] = []
    to_embed: list[int] = []
    for d in docs:
        if d.id in reuse:
            doc_chunks, doc_vecs = reuse[d.id]
            chunks.extend(doc_chunks)
            vectors.extend(doc_vecs)
        else:
            for c in fresh_chunks[d.id]:
                to_embed.append(len(chunks))
                chunks.append(c)
                vectors.append(None)
    if to_embed:
        log.info("embedding %d passages", len(to_embed))
        fresh = embed_passages(embedder, [index_text(chunks[i]) for i in to_embed], batch_size=batch_size,
                               progress=progress)
        for row, i in enumerate(to_embed):
            vectors[i] = fresh[row]
    dim = int(fresh.shape[1]) if to_embed else (len(vectors[0]) if vectors else embedder.dim)
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    bm25 = BM25Index.build([index_text(c) for c in chunks], analyzer)
    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
    new_manifest = {
        **expect,
        "embedder": {**expect["embedder"], "dim": dim, "max_tokens": embedder.max_tokens or None},
        "tokenizer": f"tiktoken:{chunker.encoding}",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "documents": {d.id: {"hash": d.content_hash, "title": d.title, "source": d.source,
                             "passages": counts.get(d.id, 0)} for d in docs},
        "skipped": [list(s) for s in skipped],
    }
    store.write_index(index_dir, new_manifest, chunks, matrix, bm25)
    report.passages, report.embedded = len(chunks), len(to_embed)
    report.seconds = time.perf_counter() - t0
    return report


def _check_unique(docs: Sequence[Document]) -> None:
    seen: set[str] = set()
    for d in docs:
        if d.id in seen:
            raise ValueError(f"two documents share the id {d.id!r}")
        seen.add(d.id)


def _reusable(index_dir: Path, expect: dict, old_docs: dict, docs: Sequence[Document]) -> dict:
    """doc id -> (chunks, vectors) from the old index, for documents whose hash is unchanged."""
    keep = {d.id for d in docs if d.id in old_docs and old_docs[d.id]["hash"] == d.content_hash}
    if not keep:
        return {}
    try:
        old = store.load_index(index_dir)
    except (IndexMissingError, IndexMismatchError) as exc:
        log.warning("cannot reuse the old index (%s); embedding everything", exc)
        return {}
    out: dict[str, tuple[list, list]] = {}
    for c, v in zip(old.chunks, old.vectors):
        if c.doc_id in keep:
            out.setdefault(c.doc_id, ([], []))
            out[c.doc_id][0].append(c)
            out[c.doc_id][1].append(v)
    return out


def _fits(embedder: Embedder, title: str):
    """A check that a passage under its title fits the embedder's own token limit."""
    count, limit = embedder.count_tokens, embedder.max_tokens

    def fits(text: str) -> bool:
        probe = Chunk(id="", doc_id="", text=text, start=0, end=len(text), title=title)
        return count(index_text(probe)) <= limit
    return fits


def chunk_documents(docs: Sequence[Document], chunker: Chunker, embedder: Embedder) -> dict[str, list[Chunk]]:
    """doc id -> its passages, each within the embedder's own token limit under its title.

    The chunker packs sentences against that limit. Unless the embedder's counts add up over
    white space (``tokens_add_up``, e.g. WordPiece), the passages are then counted once more, all
    together (one batch for the tokenizer), and any found too long is split again."""
    limit = TokenLimit.of(embedder)
    out = {d.id: chunker.chunk(d, limit=limit) for d in docs}
    if limit is None or limit.exact:
        return out
    flat = [c for d in docs for c in out[d.id]]
    counts = limit.count_many([index_text(c) for c in flat])
    over = {c.doc_id for c, n in zip(flat, counts) if n + limit.special > limit.max_tokens}
    for d in docs:
        if d.id in over:
            log.info("passages of %r split again to fit the embedder's %d tokens", d.title, limit.max_tokens)
            out[d.id] = chunker.chunk(d, fits=_fits(embedder, d.title), limit=limit)
    return out


def embed_passages(embedder: Embedder, texts: Sequence[str], *, batch_size: int = 32,
                   progress: Progress = False, block: int = BLOCK) -> np.ndarray:
    """Vectors of ``texts`` (rows in input order), longest first in blocks of ``block`` texts so
    that batches pad little and progress is reported as ``(done, total, stage)``."""
    report = reporter(progress)
    n = len(texts)
    try:
        report(0, n, "loading the model")
        load = getattr(embedder, "load", None)
        if load is not None:
            load()
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        out: np.ndarray | None = None
        report(0, n, "embedding passages")
        for s in range(0, n, block):
            idx = order[s:s + block]
            vecs = embedder.encode([texts[i] for i in idx], "passage", batch_size=batch_size)
            if out is None:
                out = np.empty((n, vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
            report(min(s + block, n), n, "embedding passages")
    finally:
        report.close()
    return out if out is not None else np.zeros((0, embedder.dim), dtype=np.float32)
