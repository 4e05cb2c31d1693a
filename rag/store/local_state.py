"""One generation of the local store, opened: its segments, tombstones and totals.

A ``State`` never changes once built; a commit builds the next one (reusing the opened
segments and the row masks of segments whose tombstones did not change), so a search that
started on the old state finishes on it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

import numpy as np

from . import files
from .base import FORMAT_VERSION
from .segment import Segment
from .vectors import AnnParams

log = logging.getLogger(__name__)

SEGMENT_KEYS = {"name": str, "passages": int, "tokens": int, "docs": int, "vectors": str, "files": dict,
                "deleted": list, "deleted_passages": int, "deleted_tokens": int, "deleted_docs": int}


class State:
    """The opened generation (or none: ``generation`` 0)."""

    def __init__(self, stamp, gen: dict | None, segments: list[Segment], *, problem: str | None = None,
                 dropped: list[str] | None = None, legacy: dict | None = None, previous: "State | None" = None):
        self.stamp, self.gen, self.problem, self.legacy = stamp, gen, problem, legacy
        self.dropped = dropped or []
        self.generation = gen["generation"] if gen else 0
        self.settings = gen["settings"] if gen else {}
        self.retired = gen.get("retired", {}) if gen else {}
        kept = {s.name for s in segments}
        self.metas = [m for m in (gen["segments"] if gen else []) if m["name"] in kept]
        self.segments = segments
        self.opened = {s.name: s for s in segments}
        self.bases = np.cumsum([0] + [s.size for s in segments]).astype(np.int64)
        self.passages = sum(m["passages"] - m["deleted_passages"] for m in self.metas)
        self.tokens = sum(m["tokens"] - m["deleted_tokens"] for m in self.metas)
        self.n_docs = sum(m["docs"] - m["deleted_docs"] for m in self.metas)
        self.dim = (self.settings.get("embedder") or {}).get("dim")
        old = previous.masks if previous else {}
        self.masks: dict[str, tuple] = {}
        for m in self.metas:  # (tombstones, live row mask or None, dead doc ordinals)
            prev = old.get(m["name"])
            self.masks[m["name"]] = prev if prev and prev[0] == m["deleted"] else _mask(m)

    def manifest(self) -> dict | None:
        if self.legacy is not None:
            return self.legacy
        if self.gen is None:
            return None
        return {"format_version": self.gen["format_version"], "generation": self.generation, **self.settings,
                "passages": self.passages, "documents": self.n_docs}

    def meta(self, name: str) -> dict:
        return next(m for m in self.metas if m["name"] == name)

    def segment(self, name: str) -> Segment:
        return self.opened[name]

    def live(self, name: str) -> np.ndarray | None:
        return self.masks[name][1]

    def dead(self, name: str) -> set[int]:
        return self.masks[name][2]

    def without(self, name: str, problem: str) -> "State":
        """This state with segment ``name`` dropped as damaged."""
        segs = [s for s in self.segments if s.name != name]
        return State(self.stamp, self.gen, segs, problem=self.problem or problem,
                     dropped=self.dropped + [name], legacy=self.legacy, previous=self)

    def find(self, doc_id: str) -> tuple[Segment, int] | None:
        """The segment and ordinal of the live copy of ``doc_id``."""
        for seg in reversed(self.segments):
            o = seg.doc_index().get(doc_id)
            if o is not None and o not in self.dead(seg.name):
                return seg, o
        return None

    def locate(self, doc_id: str) -> tuple[Segment | None, int, int]:
        found = self.find(doc_id)
        if found is None:
            return None, 0, 0
        seg, o = found
        d = seg.docs()
        return seg, d["row"][o], d["passages"][o]

    def tombstone(self, doc_id: str, metas: list[dict]) -> None:
        """Record in ``metas`` (the next generation's) that ``doc_id``'s live copy is deleted."""
        seg, row, n = self.locate(doc_id)
        if seg is None:
            return
        meta = next(m for m in metas if m["name"] == seg.name)
        meta["deleted"].append([seg.doc_index()[doc_id], row, row + n])
        meta["deleted_passages"] += n
        meta["deleted_tokens"] += int(np.asarray(seg.postings.doclen[row:row + n]).sum())
        meta["deleted_docs"] += 1

    def documents(self) -> "DocumentsView":
        return DocumentsView(self)

    def close(self) -> None:
        for seg in self.segments:
            seg.close()


class DocumentsView(Mapping):
    """``{doc_id: {hash, title, source, passages}}`` read from the segments on access."""

    def __init__(self, state: State) -> None:
        self.state = state

    def __getitem__(self, doc_id: str) -> dict:
        found = self.state.find(doc_id)
        if found is None:
            raise KeyError(doc_id)
        seg, o = found
        d = seg.docs()
        return {"hash": d["hash"][o], "title": d["title"][o], "source": d["source"][o], "passages": d["passages"][o]}

    def __iter__(self) -> Iterator[str]:
        for seg in self.state.segments:
            dead = self.state.dead(seg.name)
            for o, doc_id in enumerate(seg.docs()["id"]):
                if o not in dead:
                    yield doc_id

    def __len__(self) -> int:
        return self.state.n_docs

    def hashes(self) -> dict[str, str]:
        """``{doc_id: hash}``, built column-wise (a million documents in well under a second)."""
        out: dict[str, str] = {}
        for seg in self.state.segments:
            d = seg.docs()
            part = dict(zip(d["id"], d["hash"]))
            for o in self.state.dead(seg.name):
                part.pop(d["id"][o], None)
            out.update(part)
        return out


def _mask(meta: dict) -> tuple:
    tombs = [list(t) for t in meta["deleted"]]
    if not tombs:
        return tombs, None, set()
    live = np.ones(meta["passages"], bool)
    for _, a, b in tombs:
        live[a:b] = False
    return tombs, (None if live.all() else live), {t[0] for t in tombs}


def read_generation(path: Path) -> dict:
    """A generation file, its shape checked (ValueError if unexpected)."""
    gen = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(gen, dict) or not isinstance(gen.get("format_version"), int):
        raise ValueError(f"{path.name} has an unexpected shape")
    if gen["format_version"] != FORMAT_VERSION:
        return gen
    ok = (isinstance(gen.get("generation"), int) and isinstance(gen.get("settings"), dict)
          and isinstance(gen.get("segments"), list) and isinstance(gen.get("retired", {}), dict)
          and all(isinstance(s, dict) and all(isinstance(s.get(k), t) for k, t in SEGMENT_KEYS.items())
                  and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str)
                          for v in s["files"].values())
                  for s in gen["segments"]))
    if not ok:
        raise ValueError(f"{path.name} has an unexpected shape")
    return gen


def load_state(path: Path, opened: dict[str, Segment], ann: AnnParams, previous: State | None = None) -> State:
    """Open the live generation of ``path``; if it is damaged, the newest intact one, marked so."""
    stamp = files.pointer_stamp(path)
    problem = None
    try:
        name = files.read_pointer(path)
    except (OSError, ValueError) as exc:
        name, problem = None, f"{files.POINTER} is unreadable ({exc})"
    gens = files.generation_files(path) if path.is_dir() else []
    if name is None and problem is None:
        if not gens:
            return State(stamp, None, [])
        problem = f"{files.POINTER} is missing"
    if name and (path / name / "manifest.json").is_file():  # an index of format 1
        try:
            return State(stamp, None, [], legacy=json.loads((path / name / "manifest.json").read_text()))
        except (OSError, ValueError):
            return State(stamp, None, [], legacy={"format_version": 1})
    candidates = ([path / name] if name and problem is None else []) + [p for _, p in gens if p.name != name]
    for p in candidates:
        try:
            gen = read_generation(p)
        except (OSError, ValueError) as exc:
            problem = problem or f"{p.name} is unreadable ({exc})"
            continue
        if gen["format_version"] != FORMAT_VERSION:
            return State(stamp, None, [], legacy={**gen.get("settings", {}), "format_version": gen["format_version"]})
        segments, dropped = [], []
        dim = (gen["settings"].get("embedder") or {}).get("dim")
        for meta in gen["segments"]:
            try:
                seg = opened.get(meta["name"]) or Segment(path / meta["name"], meta, dim)
                segments.append(seg)
            except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: FAISS could not read it
                problem = problem or f"{meta['name']}: {exc}"
                dropped.append(meta["name"])
        if problem:
            log.warning("the index in %s is damaged (%s)", path, problem)
        return State(stamp, gen, segments, problem=problem, dropped=dropped, previous=previous)
    return State(stamp, None, [], problem=problem)
