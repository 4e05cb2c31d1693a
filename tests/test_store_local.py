"""The local store's own guarantees: open files, cost of a change, crashes, damage and its
repair by ``rag index``, the writer lock, cleanup, merges and the approximate index."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from helpers import ROOT
from rag.chunk import Chunker
from rag.errors import IndexMismatchError, IndexMissingError, IndexWriteError
from rag.indexer import build_index
from rag.ingest import read_seeds
from rag.store import files
from rag.store.local import LocalStore
from rag.store.local_search import search_state
from rag.store.postings import PostingsBuilder
from rag.store.vectors import AnnParams
from rag.types import Filters


def _build(seeds, ix, emb, **store_options):
    store = ix if isinstance(ix, LocalStore) else LocalStore(ix, **store_options)
    found = read_seeds(seeds)
    return build_index(found.documents, store, embedder=emb, chunker=Chunker(), skipped=found.skipped)


def _two_segments(seeds, ix, emb):
    """An index of the seeds in two segments: five documents, then the sixth alone."""
    digest = next(seeds.iterdir())
    _build(seeds, ix, emb)
    extra = seeds / "late.txt"
    extra.write_text("Late news\n\nA penguin census counted 4,321 birds on the island.", encoding="utf-8")
    _build(seeds, ix, emb)
    store = LocalStore(ix)
    segs = store.status()["segments"]
    assert len(segs) == 2 and digest.exists()
    return store, [ix / s["name"] for s in segs]


def _segment_of(store, title):
    for name in (s["name"] for s in store.status()["segments"]):
        docs = json.loads((store.path / name / "docs.json").read_text())
        if title in docs["title"]:
            return store.path / name
    raise AssertionError(title)


def test_the_index_is_plain_open_files_with_checksums(seeds, tmp_path, fake_embedder):
    _build(seeds, tmp_path / "ix", fake_embedder)
    gen = json.loads((tmp_path / "ix" / files.read_pointer(tmp_path / "ix")).read_text())
    seg = tmp_path / "ix" / gen["segments"][0]["name"]
    names = sorted(p.name for p in seg.iterdir())
    assert {"chunks.jsonl", "offsets.npy", "docs.json", "vectors.faiss", "terms.json", "post_rows.npy"} <= set(names)
    assert sorted(gen["segments"][0]["files"]) == names
    assert all(files.file_entry(seg / n) == gen["segments"][0]["files"][n] for n in names)
    assert not [p for p in (tmp_path / "ix").rglob("*") if p.suffix in (".pkl", ".pickle")]


def test_adding_one_document_writes_one_small_segment_and_touches_nothing_else(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    first = [p for p in ix.iterdir() if p.name.startswith("seg-")]
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first[0].iterdir()}
    (seeds / "late.txt").write_text("Late news\n\nSomething happened late.", encoding="utf-8")
    fake_embedder.encoded.clear()
    report = _build(seeds, ix, fake_embedder)
    assert report.added == ["Late news"] and report.embedded == 1 == len(fake_embedder.encoded)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first[0].iterdir()} == stamps
    new = [p for p in ix.iterdir() if p.name.startswith("seg-") and p not in first]
    assert len(new) == 1 and (new[0] / "offsets.npy").stat().st_size < 200


@pytest.mark.parametrize("where", ["postings", "segment rename", "generation", "pointer"])
def test_an_interrupted_write_leaves_the_previous_index_loadable(seeds, tmp_path, fake_embedder, monkeypatch, where):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    before = LocalStore(ix).status()
    (seeds / "late.txt").write_text("Late news\n\nSomething happened late.", encoding="utf-8")

    def boom(*a, **k):
        raise KeyboardInterrupt
    if where == "postings":
        monkeypatch.setattr(PostingsBuilder, "save", boom)
    elif where == "segment rename":
        monkeypatch.setattr("rag.store.segment.os.rename", boom)
    else:
        real = files.write_durable
        target = "gen-" if where == "generation" else files.POINTER
        monkeypatch.setattr(files, "write_durable", lambda p, d: boom() if p.name.startswith(target) else real(p, d))
    with pytest.raises(KeyboardInterrupt):
        _build(seeds, ix, fake_embedder)
    monkeypatch.undo()
    after = LocalStore(ix)
    after.check()
    assert after.status()["passages"] == before["passages"] and "late.txt" not in after.documents()
    assert _build(seeds, ix, fake_embedder).added == ["Late news"]  # and the next build completes
    assert not [p for p in ix.iterdir() if p.name.endswith((".partial", ".tmp"))]
    assert len([p for p in ix.iterdir() if p.name.startswith("seg-")]) == 2


KILLER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from helpers import FakeEmbedder
from rag.chunk import Chunker
from rag.indexer import build_index
from rag.ingest import read_seeds
from rag.store.local import LocalStore
from rag.store.local_search import search_state
seeds, ix = Path(sys.argv[1]), Path(sys.argv[2])
n = 0
while True:
    n += 1
    (seeds / "churn.txt").write_text(f"Churn {n}\\n\\nThe counter now reads {n} and {n * 7}.", encoding="utf-8")
    build_index(read_seeds(seeds).documents, LocalStore(ix, cleanup_grace=0), embedder=FakeEmbedder(), chunker=Chunker())
    print(n, flush=True)
"""


def test_kill_9_at_random_points_of_rebuilds_never_breaks_the_index(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    rng = np.random.default_rng(7)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(seeds), str(ix), str(ROOT / "tests")],
                                env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip()  # one rebuild done; kill it during a later one
        time.sleep(rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = LocalStore(ix)
        store.check()
        assert len(store.documents()) == 7
        assert store.search(None, "Russia tanks", 3, "bm25")
    report = _build(seeds, ix, fake_embedder)
    assert report.unchanged + len(report.added) + len(report.changed) == 7


def test_an_index_of_the_previous_format_is_rebuilt(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    old = ix / "build-20250101T000000-1-1"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text(json.dumps({"format_version": 1, "passages": 0}))
    (ix / "CURRENT").write_text(old.name + "\n")
    with pytest.raises(IndexMismatchError, match="format 1.*reads 2.*rag index"):
        LocalStore(ix).check()
    assert _build(seeds, ix, fake_embedder).full
    LocalStore(ix).check()
    assert not old.exists()


def _damage(kind, store, seg):
    ix = store.path
    if kind == "truncated vectors":
        p = seg / "vectors.faiss"
        p.write_bytes(p.read_bytes()[:100])
    elif kind == "bad chunk line":
        p = seg / "chunks.jsonl"
        p.write_bytes(b"[" + p.read_bytes()[1:])  # same size, broken JSON
    elif kind == "truncated postings":
        p = seg / "post_rows.npy"
        p.write_bytes(p.read_bytes()[:-8])
    elif kind == "missing segment":
        shutil.rmtree(seg)
    elif kind == "bad CURRENT":
        (ix / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    elif kind == "generation of another shape":
        (ix / files.read_pointer(ix)).write_text(json.dumps({"format_version": 2, "segments": "?"}))
    elif kind == "wrong passage count":
        p = ix / files.read_pointer(ix)
        gen = json.loads(p.read_text())
        gen["segments"][-1]["passages"] += 3
        p.write_text(json.dumps(gen))


@pytest.mark.parametrize("kind", ["truncated vectors", "bad chunk line", "truncated postings", "missing segment",
                                  "bad CURRENT", "generation of another shape", "wrong passage count"])
def test_a_damaged_index_says_run_rag_index_and_rag_index_repairs_it(seeds, tmp_path, fake_embedder, kind):
    ix = tmp_path / "ix"
    store, _ = _two_segments(seeds, ix, fake_embedder)
    want = sorted(store.documents())
    _damage(kind, store, _segment_of(store, "Late news"))
    with pytest.raises(IndexMissingError, match="damaged.*`rag index`"):
        LocalStore(ix).check()
    fake_embedder.encoded.clear()
    report = _build(seeds, ix, fake_embedder)
    assert report.repaired
    if kind not in ("bad CURRENT", "generation of another shape"):  # those fall back to the previous generation
        assert report.added == ["Late news"] and len(fake_embedder.encoded) == 1  # the intact part is reused
    repaired = LocalStore(ix)
    repaired.check()
    assert sorted(repaired.documents()) == want
    assert "4,321" in repaired.search(None, "penguin census", 1, "bm25")[0].chunk.text
    assert not _build(seeds, ix, fake_embedder).wrote


def test_files_unchanged_since_their_last_check_are_not_read_again(seeds, tmp_path, fake_embedder, monkeypatch):
    monkeypatch.setattr(files, "RACY_SECONDS", 0.0)  # no waiting for the coarse timestamps to age
    ix = tmp_path / "ix"
    store, segs = _two_segments(seeds, ix, fake_embedder)
    read = []
    real = files.digest
    monkeypatch.setattr(files, "digest", lambda p, kind="crc32": read.append(p.name) or real(p, kind))
    LocalStore(ix).check(deep=True)  # checks what was not checked since it was written
    read.clear()
    LocalStore(ix).check(deep=True)  # as a fresh `rag index` does
    assert read == [] and all((s / files.VERIFIED).exists() for s in segs)
    _damage("bad chunk line", store, _segment_of(store, "Late news"))  # same size, new bytes
    with pytest.raises(IndexMissingError, match="chunks.jsonl does not match its checksum"):
        LocalStore(ix).check()
    assert read == ["chunks.jsonl"]  # only the changed file was read


def test_a_second_writer_waits_for_the_first(seeds, tmp_path, fake_embedder, caplog):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    (seeds / "late.txt").write_text("Late news\n\nSomething happened late.", encoding="utf-8")
    done = threading.Event()
    with files.writer_lock(ix), caplog.at_level(logging.WARNING):
        t = threading.Thread(target=lambda: (_build(seeds, ix, fake_embedder), done.set()))
        t.start()
        time.sleep(0.5)
        assert not done.is_set()
    t.join(30)
    assert done.is_set() and "late.txt" in LocalStore(ix).documents()
    assert "another process is writing the index" in caplog.text


def test_cleanup_waits_for_readers_of_older_generations(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    store, (_, small) = _two_segments(seeds, ix, fake_embedder)
    old_state = LocalStore(ix)._state  # a search that starts now runs on this generation
    writer = LocalStore(ix, merge_factor=2, cleanup_grace=3600)
    (seeds / "later.txt").write_text("Later news\n\nMore happened later.", encoding="utf-8")
    _build(seeds, writer, fake_embedder)  # two one-passage segments -> merged into one
    assert small.name not in {s["name"] for s in writer.status()["segments"]}
    assert small.exists()  # retired, kept for the grace period
    now = LocalStore(ix, merge_factor=2, cleanup_grace=0)
    (seeds / "later.txt").unlink()
    _build(seeds, now, fake_embedder)
    assert not small.exists()  # gone once unused for the grace period
    hits = search_state(old_state, None, "penguin census", 1, "bm25", 0.5, None, 100, AnnParams())
    assert hits[0].chunk.title == "Late news"  # a search on the old generation still completes


def test_merges_keep_few_segments_and_the_same_results(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    store = LocalStore(ix, merge_factor=3)
    for n in range(12):
        (seeds / f"n{n}.txt").write_text(f"Note {n}\n\nNote number {n} mentions Russia {n} times.", encoding="utf-8")
        if n % 4 == 3:
            (seeds / f"n{n - 2}.txt").unlink()
        _build(seeds, store, fake_embedder)
        assert len(store.status()["segments"]) <= 2 * 3
    fresh = LocalStore(tmp_path / "fresh")
    _build(seeds, fresh, fake_embedder)
    assert sorted(store.documents()) == sorted(fresh.documents())
    q = fake_embedder.encode(["Russia note"], "query")[0]
    for mode in ("dense", "bm25", "hybrid"):
        a, b = (s.search(q, "Russia note", 10, mode) for s in (store, fresh))
        assert [round(h.score, 5) for h in a] == [round(h.score, 5) for h in b]
        assert {h.chunk.id for h in a if h.score > a[-1].score} == {h.chunk.id for h in b if h.score > b[-1].score}


def test_a_reader_sees_a_commit_of_another_process_at_its_next_search(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    reader = LocalStore(ix)
    assert not reader.search(None, "penguin", 1, "bm25")
    (seeds / "late.txt").write_text("Late news\n\nA penguin census.", encoding="utf-8")
    _build(seeds, ix, fake_embedder)
    assert reader.search(None, "penguin", 1, "bm25")[0].chunk.title == "Late news"


@pytest.mark.parametrize("kind", ["pq", "hnsw", "ivf"])
def test_large_segments_get_an_approximate_index_with_high_recall(seeds, tmp_path, fake_embedder, kind):
    exact = LocalStore(tmp_path / "a")
    approx = LocalStore(tmp_path / "b", ann=AnnParams(threshold=20, kind_name=kind, nprobe=4))
    for s in (exact, approx):
        _build(seeds, s, fake_embedder)
    assert approx.status()["segments"][0]["vectors"] == kind and exact.status()["segments"][0]["vectors"] == "flat"
    queries = ["Russia tanks", "Witkoff Dmitriev", "signal chats Waltz", "corruption Soviet", "American cause"]
    recall = []
    for text in queries:
        q = fake_embedder.encode([text], "query")[0]
        want = {h.chunk.id for h in exact.search(q, text, 10, "dense")}
        recall.append(len(want & {h.chunk.id for h in approx.search(q, text, 10, "dense")}) / 10)
        got = approx.search(q, text, 3, "hybrid", filters=Filters(article="Michael Vlahos: America’s New Lost Cause"))
        assert got and {h.chunk.title for h in got} == {"Michael Vlahos: America’s New Lost Cause"}
    assert np.mean(recall) >= 0.9
    assert np.allclose(approx.vectors_of(next(iter(approx.documents()))), exact.vectors_of(next(iter(approx.documents()))))


def test_a_full_disk_says_so_and_leaves_the_index_as_it_was(seeds, tmp_path, fake_embedder, monkeypatch):
    import errno

    from rag.store.segment import SegmentWriter

    ix = tmp_path / "ix"
    _build(seeds, ix, fake_embedder)
    (seeds / "late.txt").write_text("Late news\n\nSomething happened late.", encoding="utf-8")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(SegmentWriter, "finish", full)
    with pytest.raises(IndexWriteError, match="No space left on device.*previous index is unchanged"):
        _build(seeds, ix, fake_embedder)
    monkeypatch.undo()
    store = LocalStore(ix)
    store.check()
    assert "late.txt" not in store.documents() and not [p for p in ix.iterdir() if p.name.endswith(".partial")]


def test_the_merge_policy_merges_a_full_tier_and_rewrites_mostly_deleted_segments():
    from rag.store.merge import plan

    def seg(name, n, deleted=0):
        return {"name": name, "passages": n, "deleted_passages": deleted}
    assert plan([seg("big", 10_000), seg("a", 3), seg("b", 5)], 3) is None
    assert plan([seg("big", 10_000), seg("a", 3), seg("b", 5), seg("c", 8)], 3) == ["a", "b", "c"]
    assert plan([seg("big", 10_000, deleted=4_000), seg("a", 3)], 3) == ["big", "a"]
    assert plan([seg("big", 10_000, deleted=1_000), seg("a", 30), seg("b", 300)], 3) is None


def test_the_cli_names_the_damage_and_rag_index_repairs_it(fake_backend, seeds, tmp_path):
    from click.testing import CliRunner

    from rag.cli import main

    opts = ["--backend", fake_backend.name, "--seeds", str(seeds), "--index", str(tmp_path / "index")]
    run = lambda *a: CliRunner().invoke(main, [*opts, *a])  # noqa: E731
    assert run("index").exit_code == 0
    store = LocalStore(tmp_path / "index")
    seg = store.path / store.status()["segments"][0]["name"]
    (seg / "post_rows.npy").write_bytes((seg / "post_rows.npy").read_bytes()[:-4])
    broken = run("status")
    assert broken.exit_code == 1 and "Traceback" not in broken.stderr
    assert "damaged" in broken.stderr and "run `rag index` to repair it" in broken.stderr
    fixed = run("index")
    assert fixed.exit_code == 0 and "repaired:" in fixed.stdout and "index updated" in fixed.stdout
    assert run("status").exit_code == 0
    assert "1,500 tanks" in run("search", "Russia produced tanks in 2024", "--mode", "bm25").stdout


def test_a_segment_whose_documents_are_all_deleted_is_dropped(seeds, tmp_path, fake_embedder):
    ix = tmp_path / "ix"
    store, (_, small) = _two_segments(seeds, ix, fake_embedder)
    (seeds / "late.txt").unlink()
    _build(seeds, store, fake_embedder)
    assert [s["name"] for s in store.status()["segments"]] != [] and small.name not in \
        {s["name"] for s in store.status()["segments"]}
    assert len(store.status()["segments"]) == 1 and len(store.documents()) == 6
