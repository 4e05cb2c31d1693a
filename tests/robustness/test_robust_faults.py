"""Faults during a rebuild: kill -9 at random points, two ``rag index`` at once, a full disk (a
small tmpfs), a read-only index or seeds folder. Each leaves the previous good index answering;
failures are one line saying what happened; the next ``rag index`` completes the work."""
from __future__ import annotations

import os
import random
import signal
import time

import pytest

from robust_helpers import TANKS, mount, rag_process
from robust_checks import one_line_error, process_error, rag_error
from rag import Assistant, Settings
from rag.errors import RagError


def _article(n: int, version: int = 0) -> str:
    words = " ".join(f"topic{n}w{i % 37} harbour{version}" for i in range(300))
    return f"# Report {n}\n\nReport {n}, revision {version}: {words}.\n"


def _open(seeds, index, build=False) -> Assistant:
    return Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=index, embed_backend="fake"), build=build)


def _leftovers(index) -> list[str]:
    return sorted(p.name for p in index.iterdir() if p.name.endswith(".partial"))


# -- kill -9 -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_kill_9_at_random_points_of_rag_index_keeps_a_good_index(fake_backend, seeds, tmp_path):
    index = tmp_path / "index"
    opts = ["--backend", "fake", "--seeds", str(seeds), "--index", str(index)]
    assert rag_process(*opts, "index").returncode == 0
    seed = int(os.environ.get("ROBUST_SEED", "20261201"))
    rng = random.Random(seed)
    kills = []
    for round_ in range(8):
        for n in range(12):  # every round changes a dozen articles: each rebuild has work to do
            (seeds / f"report{n:02d}.md").write_text(_article(n, round_), encoding="utf-8")
        proc = rag_process(*opts, "index", env={"FAKE_EMBED_DELAY": "0.01"}, popen=True)
        at = rng.uniform(0.3, 4.0)
        time.sleep(at)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills.append((round(at, 2), finished))
        a = _open(seeds, index)  # the index a crash leaves loads and answers
        assert "1,500 tanks" in a.ask(TANKS).text, (seed, kills)
        assert 6 <= a.status()["documents"] <= 18, (seed, kills)
    out = rag_process(*opts, "index")
    assert out.returncode == 0, out.stderr
    assert "18 documents" in out.stdout and _leftovers(index) == []
    a = _open(seeds, index)
    assert a.status()["documents"] == 18
    assert all("revision 7" in " ".join(c.text for c in a.store.chunks_of(f"report{n:02d}.md")) for n in range(12))
    assert any(not f for _, f in kills), f"every kill came after the rebuild ended: {kills}"


# -- two writers ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_concurrent_rag_index_both_finish_and_the_index_is_whole(fake_backend, seeds, tmp_path):
    index = tmp_path / "index"
    opts = ["--backend", "fake", "--seeds", str(seeds), "--index", str(index)]
    assert rag_process(*opts, "index").returncode == 0
    for n in range(10):
        (seeds / f"report{n:02d}.md").write_text(_article(n), encoding="utf-8")
    slow = {"FAKE_EMBED_DELAY": "0.01"}
    first, second = (rag_process(*opts, "index", env=slow, popen=True) for _ in range(2))
    reader = rag_process(*opts, "status")  # a reader during both writes
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    assert all("Traceback" not in err for _, err in outs)
    assert reader.returncode == 0 and reader.stdout.startswith(("6 documents", "16 documents")), reader.stderr
    a = _open(seeds, index)
    docs = a.status()["documents"]
    assert docs == 16 and len(set(a.store.documents())) == 16
    rows = {(h.chunk.doc_id, h.chunk.start) for h in a.search("report harbour0 topic", k=50)}
    assert len(rows) == len(a.search("report harbour0 topic", k=50))  # no passage indexed twice
    again = rag_process(*opts, "index")
    assert "index up to date: 16 documents" in again.stdout
    assert _leftovers(index) == []


def test_a_second_writer_in_process_waits_for_the_lock_and_both_succeed(built, caplog):
    """The writer lock (rag/store/files.py) seen from two assistants on one index."""
    import threading

    a, b = _open(built.seeds, built.index), _open(built.seeds, built.index)
    (built.seeds / "extra.md").write_text("# Extra\n\nAn extra note about 77 lighthouses.", encoding="utf-8")
    errors: list[BaseException] = []

    def run(x):
        try:
            x.rebuild()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert _open(built.seeds, built.index).status()["documents"] == 8
    assert "77 lighthouses" in a.search("lighthouses", k=1)[0].chunk.text


# -- a full disk ---------------------------------------------------------------------------------
BIG = "# Big report\n\n" + "The harbour report is long, detailed and thorough about ships. " * 10_000  # 640 KB


def _tmpfs(path, mounts, size="512k"):
    path.mkdir(exist_ok=True)
    mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    mounts.append(path)


def test_a_full_disk_during_rag_index_says_so_and_the_old_index_answers(rag, mounts):
    _tmpfs(rag.index, mounts)
    assert rag("index").exit_code == 0
    big = rag.seeds / "big.md"
    big.write_text(BIG, encoding="utf-8")  # its passages do not fit in what is left of the 512 KB
    one_line_error(rag("index"), "cannot write the index", "No space left on device", "previous index is unchanged")
    assert rag("status").stdout.startswith("6 documents, ")
    a = _open(rag.seeds, rag.index)
    with pytest.raises(RagError) as info:
        a.rebuild()
    rag_error(info.value, "No space left on device")
    assert "1,500 tanks" in a.ask(TANKS).text  # the assistant that failed to rebuild still answers
    big.unlink()
    out = rag("index")
    assert out.exit_code == 0 and "up to date: 6 documents" in out.stdout
    rag.answers()


def test_a_full_disk_leaves_no_half_written_segment_behind(rag, mounts):
    _tmpfs(rag.index, mounts)
    assert rag("index").exit_code == 0
    (rag.seeds / "big.md").write_text(BIG, encoding="utf-8")
    assert rag("index").exit_code == 1
    assert _leftovers(rag.index) == []


def test_an_upload_to_a_full_seeds_disk_is_refused_and_leaves_nothing(rag, tmp_path, mounts, fake_embedder):
    seeds = tmp_path / "small-seeds"
    _tmpfs(seeds, mounts, size="1m")
    (seeds / "000_digest.txt").write_bytes((rag.seeds / "000_2dc09e9634033631.txt").read_bytes())
    a = Assistant.open(settings=Settings(seeds_dir=seeds, index_dir=tmp_path / "ix"), embedder=fake_embedder)
    with pytest.raises(RagError) as info:
        a.add_document("huge.md", b"# Huge\n\n" + b"text " * (1024 * 1024 - 4))  # 5 MB - a little: fits the limit
    rag_error(info.value, "cannot save huge.md", "No space left on device")
    assert sorted(p.name for p in seeds.iterdir()) == ["000_digest.txt"]
    assert "1,500 tanks" in a.ask(TANKS).text


# -- read-only folders ---------------------------------------------------------------------------
def _read_only(path, mounts):
    """``path`` made read-only for root too: a bind mount of itself, remounted ro."""
    mount("--bind", str(path), str(path))
    mounts.append(path)
    mount("-o", "remount,bind,ro", str(path))


def test_a_read_only_index_folder_says_so_and_still_answers(rag, mounts):
    assert rag("index").exit_code == 0
    _read_only(rag.index, mounts)
    rag.answers()  # nothing to update: no write is needed to answer
    (rag.seeds / "new.md").write_text("# New\n\nA new note about 9 bridges.", encoding="utf-8")
    one_line_error(rag("index"), "cannot write the index", "Read-only file system", "previous index is unchanged")
    assert rag("status").stdout.startswith("6 documents, ")
    assert "1,500 tanks" in _open(rag.seeds, rag.index).ask(TANKS).text


def test_an_upload_to_a_read_only_seeds_folder_is_one_line(rag, tmp_path, mounts, fake_embedder):
    a = Assistant.open(settings=Settings(seeds_dir=rag.seeds, index_dir=rag.index), embedder=fake_embedder)
    _read_only(rag.seeds, mounts)
    with pytest.raises(RagError) as info:
        a.add_document("note.md", b"# Note\n\nA note.")
    rag_error(info.value, "cannot save note.md", "Read-only file system")
    assert "1,500 tanks" in a.ask(TANKS).text


@pytest.mark.slow
def test_a_full_disk_in_a_subprocess_is_one_line_and_exit_1(seeds, tmp_path, mounts):
    index = tmp_path / "index"
    _tmpfs(index, mounts)
    opts = ["--backend", "fake", "--seeds", str(seeds), "--index", str(index)]
    assert rag_process(*opts, "index").returncode == 0
    (seeds / "big.md").write_text(BIG, encoding="utf-8")
    process_error(rag_process(*opts, "index"), "No space left on device", "previous index is unchanged")
    status = rag_process(*opts, "status")
    assert status.returncode == 0 and status.stdout.startswith("6 documents")
