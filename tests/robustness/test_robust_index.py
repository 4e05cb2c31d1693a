"""Every kind of damage to the index on disk: a command that only reads it (``rag status``,
``Assistant.open(build=False)``) refuses with one line naming ``rag index``; running ``rag index``
repairs it (re-embedding only the damaged part where the rest is intact), after which it answers
and a second ``rag index`` finds nothing to do.

The damage functions are a table per file role of the local store's layout (rag/store/files.py,
rag/store/segment.py): ``CURRENT``, ``gen-NNNNNN.json``, and per segment ``chunks.jsonl``,
``offsets.npy``, ``docs.json``, ``vectors.faiss``, ``terms.json``/``post_*.npy``/``doclen.npy``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
import pytest

from robust_helpers import TANKS
from robust_checks import one_line_error, rag_error, usage_error
from rag import Assistant, Settings
from rag.errors import IndexMissingError, RagError


class Layout:
    """Where the files of each role are, in the built index (two segments: digest, then penguins)."""

    def __init__(self, ix: Path) -> None:
        self.ix = ix
        self.pointer = ix / "CURRENT"
        self.generation = ix / self.pointer.read_text().strip()
        self.gen = json.loads(self.generation.read_text())
        names = [s["name"] for s in self.gen["segments"]]
        assert len(names) == 2, names
        self.segments = {"first": ix / names[0], "last": ix / names[1]}

    def rewrite_gen(self, change: Callable[[dict], None]) -> None:
        change(self.gen)
        self.generation.write_text(json.dumps(self.gen))

    def rechecksum(self, seg: Path, name: str) -> None:
        """Record ``seg/name``'s new size and sha256 (damage a checksum cannot catch)."""
        data = (seg / name).read_bytes()
        entry = next(s for s in self.gen["segments"] if s["name"] == seg.name)
        entry["files"][name] = [len(data), hashlib.sha256(data).hexdigest()]
        self.generation.write_text(json.dumps(self.gen))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _zero(p: Path) -> None:
    p.write_bytes(b"")


def _flip(p: Path) -> None:  # same size, different bytes (a bad sector, a stray write)
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = bytes(b ^ 0xFF for b in data[mid:mid + 8])
    p.write_bytes(bytes(data))


def _bad_line(p: Path) -> None:  # the first passage line replaced by garbage of the same length
    lines = p.read_bytes().split(b"\n")
    lines[0] = b"{not json" + b"#" * (len(lines[0]) - 9)
    p.write_bytes(b"\n".join(lines))


def _extra_line(p: Path) -> None:
    p.write_bytes(p.read_bytes() + b'{"id": "ghost", "text": "a passage no vector has"}\n')


def _other_dimension(lay: Layout, seg: Path, rechecksum: bool = True) -> None:
    """vectors.faiss replaced by one of another dimension with the same row count (and, if
    ``rechecksum``, its checksum recorded: only the dimension check can catch it)."""
    n = faiss.read_index(str(seg / "vectors.faiss")).ntotal
    flat = faiss.IndexFlatIP(32)
    flat.add(np.eye(n, 32, dtype=np.float32))
    faiss.write_index(flat, str(seg / "vectors.faiss"))
    if rechecksum:
        lay.rechecksum(seg, "vectors.faiss")


def _docs_of_another_shape(lay: Layout, seg: Path) -> None:
    (seg / "docs.json").write_text(json.dumps({"id": ["x"], "title": ["y"]}))
    lay.rechecksum(seg, "docs.json")


def _seg_file(name: str, how: Callable[[Path], None]):
    return lambda lay, seg: how(seg / name)


def _missing(name: str):
    return lambda lay, seg: (seg / name).unlink()


@dataclass
class Damage:
    id: str
    damage: Callable[[Layout, Path], None]
    segment: str = "last"  # which segment (for per-segment damage): "first" (digest) or "last" (penguins)
    reuses: bool = True  # rag index re-embeds only the damaged segment's documents
    defect: str = ""  # a known defect this case shows (strict xfail: it fails until fixed)


DAMAGES = [
    # the pointer file
    Damage("CURRENT with invalid bytes", lambda lay, seg: lay.pointer.write_bytes(b"\xff\xfe\x00garbage"), reuses=False),
    Damage("CURRENT empty", lambda lay, seg: _zero(lay.pointer), reuses=False),
    Damage("CURRENT missing", lambda lay, seg: lay.pointer.unlink(), reuses=False),
    Damage("CURRENT naming no file", lambda lay, seg: lay.pointer.write_text("gen-999999.json\n"), reuses=False),
    Damage("CURRENT naming a path", lambda lay, seg: lay.pointer.write_text("../../etc/passwd\n"), reuses=False),
    # the generation (the manifest)
    Damage("manifest not JSON", lambda lay, seg: lay.generation.write_text("{not json"), reuses=False),
    Damage("manifest truncated", lambda lay, seg: _truncate(lay.generation), reuses=False),
    Damage("manifest a list", lambda lay, seg: lay.generation.write_text("[]"), reuses=False),
    Damage("manifest segments not a list", lambda lay, seg: lay.rewrite_gen(lambda g: g.update(segments="?")),
           reuses=False),
    Damage("manifest without settings", lambda lay, seg: lay.rewrite_gen(lambda g: g.pop("settings")), reuses=False),
    Damage("manifest wrong passage count",
           lambda lay, seg: lay.rewrite_gen(lambda g: g["segments"][-1].update(passages=g["segments"][-1]["passages"] + 3))),
    Damage("all manifests deleted", lambda lay, seg: [p.unlink() for p in lay.ix.glob("gen-*.json")], reuses=False),
    # the passages file
    Damage("passages bad line", _seg_file("chunks.jsonl", _bad_line)),
    Damage("passages bad line (first segment)", _seg_file("chunks.jsonl", _bad_line), segment="first"),
    Damage("passages truncated", _seg_file("chunks.jsonl", _truncate)),
    Damage("passages extra line", _seg_file("chunks.jsonl", _extra_line)),
    Damage("passages missing", _missing("chunks.jsonl"), segment="first"),
    Damage("passage offsets truncated", _seg_file("offsets.npy", _truncate)),
    # the vectors file
    Damage("vectors truncated", _seg_file("vectors.faiss", _truncate)),
    Damage("vectors truncated (first segment)", _seg_file("vectors.faiss", _truncate), segment="first"),
    Damage("vectors empty", _seg_file("vectors.faiss", _zero)),
    Damage("vectors missing", _missing("vectors.faiss")),
    Damage("vectors flipped bytes", _seg_file("vectors.faiss", _flip), segment="first"),
    Damage("vectors of another dimension (copied in)", lambda lay, seg: _other_dimension(lay, seg, rechecksum=False),
           segment="first"),
    Damage("vectors of another dimension", _other_dimension),
    # BM25
    Damage("BM25 postings truncated", _seg_file("post_rows.npy", _truncate)),
    Damage("BM25 pointers truncated", _seg_file("post_ptr.npy", _truncate), segment="first"),
    Damage("BM25 lengths missing", _missing("doclen.npy")),
    Damage("BM25 terms not JSON", _seg_file("terms.json", _flip)),
    # the segment's documents, and the segment itself
    Damage("documents of another shape", _docs_of_another_shape),
    Damage("documents missing", _missing("docs.json"), segment="first"),
    Damage("segment folder missing", lambda lay, seg: shutil.rmtree(seg)),
    Damage("segment folder missing (first)", lambda lay, seg: shutil.rmtree(seg), segment="first"),
]


@pytest.mark.parametrize("case", [pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=d.defect))
                                  if d.defect else d for d in DAMAGES], ids=[d.id for d in DAMAGES])
def test_a_damaged_index_names_rag_index_which_repairs_it(built, fake_backend, case):
    lay = Layout(built.index)
    target = lay.segments[case.segment]
    target_docs = json.loads((target / "docs.json").read_text())["id"] if case.reuses else None
    case.damage(lay, target)

    one_line_error(built("status"), f"the index in {built.index}", "`rag index`")
    with pytest.raises(RagError) as info:
        Assistant.open(settings=Settings(seeds_dir=built.seeds, index_dir=built.index, embed_backend="fake"),
                       build=False)
    rag_error(info.value, "`rag index`")

    embedded = len(fake_backend.encoded)
    out = built("index")
    assert out.exit_code == 0, out.output
    assert "repaired: " in out.stdout or "rebuilt everything" in out.stdout or "added: " in out.stdout, out.stdout
    again = fake_backend.encoded[embedded:]
    if case.reuses:  # only the damaged segment's documents were embedded again
        penguins_only = target_docs == ["penguins.md"]
        assert again and (all("penguin" in t.lower() for t in again) if penguins_only
                          else not any("penguin" in t.lower() for t in again))
    assert built("status").stdout.startswith("7 documents, ")
    built.answers()
    assert "4,321" in built("search", "penguin census", "-k", "1").stdout
    assert "index up to date" in built("index").stdout  # the repair holds


@pytest.mark.parametrize("how", ["CURRENT with invalid bytes", "manifest a list", "all manifests deleted"])
def test_a_running_assistant_keeps_answering_when_the_pointer_or_manifest_breaks(built, how):
    live = Assistant.open(settings=Settings(seeds_dir=built.seeds, index_dir=built.index, embed_backend="fake"),
                          build=False)
    assert "1,500 tanks" in live.ask(TANKS).text
    case = next(d for d in DAMAGES if d.id == how)
    case.damage(Layout(built.index), None)
    assert "1,500 tanks" in live.ask(TANKS).text  # the segments it opened are intact
    live.rebuild()
    assert "1,500 tanks" in live.ask(TANKS).text and live.status()["documents"] == 7


def test_an_index_of_another_model_is_refused_by_status_and_rebuilt_by_index(built, fake_backend):
    other = built("--backend", "fake", "--model", "other", "--seeds", str(built.seeds), "--index", str(built.index),
                  "status", opts=False)
    one_line_error(other, "the index was built with embedder", "`rag index`")
    out = built("--backend", "fake", "--model", "other", "--seeds", str(built.seeds), "--index", str(built.index),
                "index", opts=False)
    assert out.exit_code == 0 and "rebuilt everything: 7 documents" in out.stdout


def test_an_index_folder_that_is_a_file_is_one_line(rag, tmp_path):
    f = tmp_path / "index-file"
    f.write_text("not a folder")
    rag.index = f
    usage_error(rag("index"), "is a file")
    out = rag("--backend", "fake", "--seeds", str(rag.seeds), "index", opts=False, env={"RAG_INDEX_DIR": str(f)})
    one_line_error(out, str(f))
    assert f.read_text() == "not a folder"


def test_the_api_reports_a_damaged_index_as_index_missing_error(built):
    _truncate(Layout(built.index).segments["last"] / "vectors.faiss")
    with pytest.raises(IndexMissingError) as info:
        Assistant.open(settings=Settings(seeds_dir=built.seeds, index_dir=built.index, embed_backend="fake"),
                       build=False)
    rag_error(info.value, "damaged", "`rag index` to repair it")
    a = Assistant.open(settings=Settings(seeds_dir=built.seeds, index_dir=built.index, embed_backend="fake"))
    assert a.status()["documents"] == 7 and "1,500 tanks" in a.ask(TANKS).text
