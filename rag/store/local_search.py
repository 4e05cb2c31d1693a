"""Dense, BM25 and hybrid search over the segments of one local-store state.

Rows are numbered across segments (``state.bases``); tombstoned rows and rows the filters
exclude are masked out before ranking. BM25 uses the state's global N, avgdl and df over the
live rows, so scores equal one BM25 index over the live passages (tests/test_store_local.py).
"""
from __future__ import annotations

import numpy as np

from ..bm25 import B, K1, Analyzer, idf
from ..config import MODES
from ..errors import RagError
from ..types import Chunk, Filters, Hit
from . import vectors
from .base import hits, hybrid_top, matches, top
from .local_state import State
from .segment import Segment


def search_state(state: State, q: np.ndarray | None, text: str, k: int, mode: str, weight: float,
                 filters: Filters | None, candidates: int, ann: vectors.AnnParams) -> list[Hit]:
    if mode not in MODES:
        raise RagError(f"unknown retrieval mode {mode!r}; valid: {', '.join(MODES)}")
    if state.passages == 0 or k < 1:
        return []
    if mode != "bm25" and q is None:
        raise RagError(f"a {mode} search needs the query's vector")
    allowed = [_allowed(state, seg, filters) for seg in state.segments]
    if mode == "dense":
        ids, scores = _dense_top(state, q, k, allowed, ann)
    elif mode == "bm25":
        ids, scores = _bm25_top(state, _bm25_scores(state, text, allowed), k)
    else:
        cand = max(candidates, k)
        dense_ids, _ = _dense_top(state, q, cand, allowed, ann)
        bm = _bm25_scores(state, text, allowed)
        bm_ids, _ = _bm25_top(state, bm, cand)
        ids, scores = hybrid_top(dense_ids, bm_ids, lambda i: _dense_of(state, q, i),
                                 lambda i: _bm25_of(state, bm, i), weight, k)
    return hits([_chunk(state, int(i)) for i in ids], scores)


def _split(state: State, ids: np.ndarray):
    """(segment index, rows) groups of global row ids."""
    seg_of = np.searchsorted(state.bases, ids, side="right") - 1
    for si in np.unique(seg_of):
        sel = seg_of == si
        yield int(si), sel, ids[sel] - state.bases[si]


def _chunk(state: State, gid: int) -> Chunk:
    si = int(np.searchsorted(state.bases, gid, side="right") - 1)
    return state.segments[si].chunk(gid - int(state.bases[si]))


def _allowed(state: State, seg: Segment, filters: Filters | None) -> np.ndarray | None:
    live = state.live(seg.name)
    if not filters:
        return live
    mask = _filter_mask(seg, filters)
    return mask if live is None else mask & live


def _filter_mask(seg: Segment, filters: Filters) -> np.ndarray:
    """Rows of ``seg`` whose document passes ``filters`` (kept per segment for a few filters)."""
    cache = seg.__dict__.setdefault("_filter_masks", {})
    if filters not in cache:
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        cache[filters] = _mask_of(seg, filters)
    return cache[filters]


def _mask_of(seg: Segment, filters: Filters) -> np.ndarray:
    d = seg.docs()
    mask = np.zeros(seg.size, bool)
    for o in range(len(d["id"])):
        probe = Chunk(id="", doc_id=d["id"][o], text="", start=0, end=0, title=d["title"][o],
                      source=d["source"][o], authors=tuple(d["authors"][o]), outlet=d["outlet"][o],
                      date=d["date"][o])
        if d["passages"][o] and matches(filters, probe):
            mask[d["row"][o]:d["row"][o] + d["passages"][o]] = True
    return mask


def _dense_top(state: State, q, k, allowed, ann):
    ids, scores = [], []
    for si, seg in enumerate(state.segments):
        mask = allowed[si]
        if mask is not None and not mask.any():
            continue
        rows, s = vectors.search(seg.index, q, k, mask, ann)
        ids.append(rows + state.bases[si])
        scores.append(s)
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if len(ids) == 1:
        return ids[0], scores[0]
    return top(np.concatenate(ids), np.concatenate(scores), k)


def _dense_of(state: State, q, ids):
    out = np.zeros(len(ids), np.float32)
    for si, sel, rows in _split(state, ids):
        out[sel] = vectors.reconstruct(state.segments[si].index, rows) @ q
    return out


def _bm25_scores(state: State, text: str, allowed) -> list[np.ndarray | None]:
    """Per segment, BM25 scores of its rows (None where no query term occurs)."""
    bm25 = state.settings.get("bm25") or {}
    analyzer = Analyzer(**{k: bm25[k] for k in ("stem", "stopwords") if k in bm25})
    k1, b = bm25.get("k1", K1), bm25.get("b", B)
    terms = analyzer(text)
    if not terms:
        return [None] * len(state.segments)
    n, avgdl = state.passages, state.tokens / state.passages
    looked = {t: [seg.postings.lookup(t) for seg in state.segments] for t in dict.fromkeys(terms)}
    df = {t: sum(len(r) if state.live(seg.name) is None else int(state.live(seg.name)[r].sum())
                 for seg, (r, _) in zip(state.segments, lists)) for t, lists in looked.items()}
    weights = {t: np.float32(idf(d, n)) for t, d in df.items() if d}
    out: list[np.ndarray | None] = []
    for si, seg in enumerate(state.segments):
        scores = None
        norm = seg.postings.norm(avgdl, k1, b)
        for t in terms:
            if t not in weights:
                continue
            rows, tfs = looked[t][si]
            if not len(rows):
                continue
            if scores is None:
                scores = np.zeros(seg.size, np.float32)
            tf = tfs.astype(np.float32)
            scores[rows] += weights[t] * (tf / (tf + norm[rows]))
        if scores is not None and allowed[si] is not None:
            scores[~allowed[si]] = 0.0
        out.append(scores)
    return out


def _bm25_top(state: State, per_seg, k):
    ids, scores = [], []
    for si, s in enumerate(per_seg):
        if s is None:
            continue
        nz = np.flatnonzero(s > 0)
        if len(nz) > k:
            nz = nz[np.argpartition(-s[nz], k - 1)[:k]]
        ids.append(nz + state.bases[si])
        scores.append(s[nz])
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return top(np.concatenate(ids), np.concatenate(scores), k)


def _bm25_of(state: State, per_seg, ids):
    out = np.zeros(len(ids), np.float32)
    for si, sel, rows in _split(state, ids):
        if per_seg[si] is not None:
            out[sel] = per_seg[si][rows]
    return out
