"""The store role: where passages, their vectors and their keyword statistics live.

A store holds the passages of the indexed documents and answers dense, BM25 and hybrid
searches over them. Backends (``local``: a folder of open files; ``postgres``: PostgreSQL +
pgvector) implement :class:`Store` and register a factory under a name in ``STORES``;
:func:`rag.store.open_store` picks one from ``Settings.store``.

The contract every backend keeps (tests/test_store.py runs it against each one):

``manifest() -> dict | None``
    What the live index was built with, or None when there is none yet: ``format_version``,
    ``embedder`` (``model_id``, ``dim``, ``max_tokens``), ``chunking``, ``bm25`` (analyzer
    params and ``k1``/``b``), ``tokenizer``, ``built_at``, ``skipped``, and the counts
    ``passages`` and ``documents``. It holds no per-document entries (at a million documents
    that would make every change cost a million), see ``documents()``. An index of an older
    format gives its ``format_version`` (so the indexer rebuilds it); a damaged one gives what
    can still be read (``check`` says it is damaged).
``documents() -> Mapping[str, dict]``
    ``{doc_id: {"hash", "title", "source", "passages"}}`` of the live documents that are
    intact, which the indexer compares with the seeds folder to find what changed (so the
    documents of a damaged part are embedded again). A backend that cannot tell which
    documents are damaged sets ``repairs_parts = False``: the indexer then rebuilds it whole.
``hashes() -> dict[str, str]``
    ``{doc_id: hash}`` of the same documents: all the indexer needs to find what changed
    (a default from ``documents()`` is given; backends make it fast).
``check(expect=None, deep=False) -> None``
    Raise IndexMismatchError if the live index was built with other settings than
    ``expect`` (a dict of manifest keys, see :func:`check_manifest`) or another format, and
    IndexMissingError (whose message names ``rag index``, which repairs it) if it is missing
    or damaged. ``deep`` verifies everything (e.g. every file's checksum), as ``rag index``
    does before deciding what to reuse; without it only what is cheap at open.
``apply(manifest, upserts, deletes, *, full=False) -> None``
    ONE atomic change: each :class:`DocPassages` in ``upserts`` (an iterable, consumed once,
    so a large build can stream it batch by batch) replaces all passages of its
    document (or adds it), each id in ``deletes`` is removed, and the settings part of
    ``manifest`` (the keys listed above except the counts; ``format_version`` is the
    backend's) is recorded. A reader sees the whole change or none of it, and a crash at any
    point leaves the previous state loadable. Work is in proportion to the change. Parts a
    deep ``check`` found damaged are dropped (their documents come back as upserts).
    ``full=True`` starts from nothing: the new state holds exactly ``upserts`` (a change of
    model or chunking), built beside the old one and switched to in one step. Concurrent
    writers are serialised (the second waits, with a log message).
``search(query_vec, query_text, k, mode, weight, filters=None, candidates=100) -> list[Hit]``
    The ``k`` best live passages, best first, ranks 1..k. ``mode``: ``dense`` (inner product
    of unit vectors, the score), ``bm25`` (BM25 of ``query_text`` with the shared analyzer,
    GLOBAL statistics over the live passages: scores equal those of one
    :class:`rag.bm25.BM25Index` over them) or ``hybrid`` (:func:`hybrid_top`: each leg's top
    ``max(candidates, k)``, the union scored by both legs and fused with
    :func:`rag.fusion.hybrid`, ``weight`` for dense). The BM25 leg lists only passages with
    a score above 0. ``filters`` (:class:`rag.types.Filters`) restrict the passages BEFORE
    ranking, so a filtered search still returns ``k`` hits when that many match.
    ``query_vec`` may be None for ``bm25``.
``chunks_of(doc_id) -> list[Chunk]`` and ``vectors_of(doc_id) -> np.ndarray``
    A document's live passages in order, and their vectors (row i = chunk i).
``__len__()``
    Live passages.
``status() -> dict``
    ``backend``, ``location`` (no secrets), ``passages``, ``documents`` and backend details.
``close()``
    Release files, connections and locks. Stores are also context managers.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import IndexMismatchError
from ..fusion import hybrid
from ..registry import Registry
from ..types import Chunk, Filters, Hit
from .filters import matches, parse_date  # noqa: F401  (part of the role's shared code)

FORMAT_VERSION = 2
REBUILD_HINT = "run `rag index` (or Assistant.rebuild()) to rebuild it"
SETTINGS_KEYS = ("embedder", "chunking", "bm25", "tokenizer", "built_at", "skipped")


@dataclass
class DocPassages:
    """One document's passages as the indexer hands them to a store.

    ``vectors`` is float32 of shape (len(chunks), dim), unit rows, row i = chunks[i].
    """

    doc_id: str
    hash: str
    title: str
    source: str
    chunks: list[Chunk] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        if len(self.chunks) != len(self.vectors) and len(self.chunks):
            raise ValueError(f"{self.doc_id}: {len(self.chunks)} passages but {len(self.vectors)} vectors")
        if any(c.doc_id != self.doc_id for c in self.chunks):
            raise ValueError(f"{self.doc_id}: a passage of another document was given")

    def info(self) -> dict:
        """The entry of ``Store.documents()`` for this document."""
        return {"hash": self.hash, "title": self.title, "source": self.source, "passages": len(self.chunks)}


class Store(ABC):
    """The store role; see the module docstring for the contract."""

    name: str = ""
    repairs_parts: bool = True  # documents()/hashes() leave out what a failed deep check found damaged

    @abstractmethod
    def manifest(self) -> dict | None: ...

    @abstractmethod
    def documents(self) -> Mapping[str, dict]: ...

    def hashes(self) -> dict[str, str]:
        return {doc_id: info["hash"] for doc_id, info in self.documents().items()}

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, dict]:
        """``documents()`` entries of those of ``doc_ids`` the index holds (backends look them up
        one by one instead of listing the collection)."""
        every = self.documents()
        return {i: every[i] for i in doc_ids if i in every}

    @abstractmethod
    def check(self, expect: dict | None = None, deep: bool = False) -> None: ...

    @abstractmethod
    def apply(self, manifest: dict, upserts: Iterable[DocPassages] = (), deletes: Sequence[str] = (),
              *, full: bool = False) -> None: ...

    @abstractmethod
    def search(self, query_vec: np.ndarray | None, query_text: str, k: int, mode: str = "hybrid",
               weight: float = 0.5, filters: Filters | None = None, candidates: int = 100) -> list[Hit]: ...

    @abstractmethod
    def chunks_of(self, doc_id: str) -> list[Chunk]: ...

    @abstractmethod
    def vectors_of(self, doc_id: str) -> np.ndarray: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def status(self) -> dict: ...

    def close(self) -> None:
        """Release what the store holds (default: nothing)."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# factories: (settings, **options) -> Store
STORES: Registry[Store] = Registry("store backend")


def check_manifest(manifest: dict, expect: dict, version: int = FORMAT_VERSION) -> None:
    """Raise IndexMismatchError if ``manifest`` has another format or differs from ``expect``.

    ``expect`` maps manifest keys to wanted values; for a dict value only its keys are
    compared (so ``{"embedder": {"model_id": m}}`` ignores the recorded ``dim``).
    """
    if manifest.get("format_version") != version:
        raise IndexMismatchError(
            f"the index has format {manifest.get('format_version')!r}, this version reads "
            f"{version}: {REBUILD_HINT}")
    for key, want in expect.items():
        have = manifest.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            have = {k: have.get(k) for k in want}
        if have != want:
            raise IndexMismatchError(
                f"the index was built with {key} {have!r} but the settings ask for {want!r}: {REBUILD_HINT}")


def settings_part(manifest: dict) -> dict:
    """The keys of ``manifest`` a store records (see the contract's ``apply``)."""
    return {k: manifest[k] for k in SETTINGS_KEYS if k in manifest}


def hybrid_top(dense_ids: np.ndarray, bm25_ids: np.ndarray, dense_of, bm25_of, weight: float,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fuse two candidate lists: the union, scored by both legs, ``hybrid`` fused, top ``k``.

    ``dense_of(ids)`` / ``bm25_of(ids)`` give each leg's scores of any ids; ids are integers
    a backend chooses (rows, primary keys). Returns (ids, fused scores), best first.
    """
    ids = np.union1d(np.asarray(dense_ids, np.int64), np.asarray(bm25_ids, np.int64))
    if not len(ids):
        return ids, np.zeros(0)
    fused = hybrid(np.asarray(dense_of(ids)), np.asarray(bm25_of(ids)), weight)
    return top(ids, fused, k)


def top(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest ``scores`` with their ``ids``, best first (ties: input order)."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return np.asarray(ids)[order], np.asarray(scores)[order]


def hits(chunks: Sequence[Chunk], scores: Sequence[float]) -> list[Hit]:
    """Hits ranked 1..n in the given order."""
    return [Hit(c, float(s), r + 1) for r, (c, s) in enumerate(zip(chunks, scores))]


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def store_label(location: str) -> str:
    """``location`` with any ``user:password@`` removed, for logs, errors and status."""
    return _CREDENTIALS.sub("", location or "local")
