"""BM25 term statistics of one segment, as an inverted index in plain files.

``terms.json`` (term i's string), ``post_ptr.npy`` (int64, term i's postings are
``[ptr[i], ptr[i+1])``), ``post_rows.npy`` (int32 passage rows, ascending per term),
``post_tf.npy`` (uint16 term counts) and ``doclen.npy`` (int32 terms per passage). Scores are
computed at query time with the collection's global N, df and avgdl (rag/bm25.py's formulas),
so a store of many segments ranks exactly like one BM25 index over its live passages.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FILES = ("terms.json", "post_ptr.npy", "post_rows.npy", "post_tf.npy", "doclen.npy")


class PostingsBuilder:
    """Collects term counts passage by passage (or whole segments' postings, when merging)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._tids: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._tfs: list[np.ndarray] = []
        self.doclen: list[np.ndarray] = []
        self.rows = 0
        self._pending: tuple[list, list, list, list] = ([], [], [], [])

    def add(self, terms: list[str], counts: list[int]) -> None:
        """The next passage's distinct terms and their counts."""
        get = self.vocab.setdefault
        tids, rows, tfs, dls = self._pending
        tids.extend(get(t, len(self.vocab)) for t in terms)
        rows.extend([self.rows] * len(terms))
        tfs.extend(counts)
        dls.append(sum(counts))
        self.rows += 1
        if len(tids) > 1 << 20:
            self._flush()

    def add_postings(self, part: "Postings", keep: np.ndarray) -> None:
        """Append the rows ``keep`` (ascending) of another segment's postings, in that order."""
        self._flush()
        remap = np.full(part.size, -1, np.int64)
        remap[keep] = self.rows + np.arange(len(keep))
        term_of = np.repeat(np.arange(len(part.terms)), np.diff(part.ptr))
        rows = remap[part.rows]
        ok = rows >= 0
        live_terms = np.unique(term_of[ok])  # terms of deleted rows only are not carried over
        get = self.vocab.setdefault
        new_id = np.zeros(len(part.terms), np.int64)
        new_id[live_terms] = [get(part.terms[t], len(self.vocab)) for t in live_terms]
        self._tids.append(new_id[term_of[ok]].astype(np.int32))
        self._rows.append(rows[ok].astype(np.int32))
        self._tfs.append(np.asarray(part.tfs)[ok])
        self.doclen.append(np.asarray(part.doclen)[keep])
        self.rows += len(keep)

    def _flush(self) -> None:
        tids, rows, tfs, dls = self._pending
        if tids:
            self._tids.append(np.array(tids, np.int32))
            self._rows.append(np.array(rows, np.int32))
            self._tfs.append(np.minimum(np.array(tfs, np.int64), 65535).astype(np.uint16))
        if dls:
            self.doclen.append(np.array(dls, np.int32))
        self._pending = ([], [], [], [])

    def save(self, folder: Path) -> int:
        """Write the files; returns the total number of terms (for avgdl)."""
        self._flush()
        tids = np.concatenate(self._tids) if self._tids else np.zeros(0, np.int32)
        self._tids = []
        order = np.argsort(tids, kind="stable")  # rows were appended in ascending order
        counts = np.bincount(tids, minlength=len(self.vocab))
        del tids
        ptr = np.zeros(len(self.vocab) + 1, np.int64)
        np.cumsum(counts, out=ptr[1:])
        rows = np.concatenate(self._rows)[order] if self._rows else np.zeros(0, np.int32)
        self._rows = []
        tfs = np.concatenate(self._tfs)[order] if self._tfs else np.zeros(0, np.uint16)
        self._tfs = []
        doclen = np.concatenate(self.doclen) if self.doclen else np.zeros(0, np.int32)
        (folder / "terms.json").write_text(json.dumps(list(self.vocab), ensure_ascii=False), encoding="utf-8")
        np.save(folder / "post_ptr.npy", ptr)
        np.save(folder / "post_rows.npy", rows.astype(np.int32, copy=False))
        np.save(folder / "post_tf.npy", tfs.astype(np.uint16, copy=False))
        np.save(folder / "doclen.npy", doclen.astype(np.int32))
        return int(doclen.sum())


class Postings:
    """A segment's postings, memory-mapped; ``lookup(term)`` gives (rows, term counts)."""

    def __init__(self, folder: Path) -> None:
        self.terms: list[str] = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
        self.index = {t: i for i, t in enumerate(self.terms)}
        self.ptr = np.load(folder / "post_ptr.npy", mmap_mode="r")
        self.rows = np.load(folder / "post_rows.npy", mmap_mode="r")
        self.tfs = np.load(folder / "post_tf.npy", mmap_mode="r")
        self.doclen = np.load(folder / "doclen.npy", mmap_mode="r")
        self.size = len(self.doclen)
        if len(self.ptr) != len(self.terms) + 1 or not int(self.ptr[-1]) == len(self.rows) == len(self.tfs):
            raise ValueError("the postings arrays disagree in length")
        self._norm: tuple[float, np.ndarray] | None = None

    def lookup(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        i = self.index.get(term)
        if i is None:
            return np.zeros(0, np.int32), np.zeros(0, np.uint16)
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        return self.rows[a:b], self.tfs[a:b]

    def norm(self, avgdl: float, k1: float, b: float) -> np.ndarray:
        """``k1 * (1 - b + b * dl / avgdl)`` per passage, kept while avgdl stays the same."""
        if self._norm is None or self._norm[0] != avgdl:
            dl = np.asarray(self.doclen, np.float32)
            self._norm = (avgdl, (k1 * ((1 - b) + b * dl / np.float32(avgdl))).astype(np.float32))
        return self._norm[1]
