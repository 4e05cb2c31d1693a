"""rag/seed_record.py: `rag index` reads again only the seed files that changed, and never trusts
the record over the index."""
from __future__ import annotations

import os

import pytest

import rag.ingest
from rag import Assistant, Settings
from rag import seed_record


@pytest.fixture
def settled(monkeypatch):
    """Files written a moment ago count as settled (else the racy window keeps them out of the record)."""
    monkeypatch.setattr(seed_record, "RACY_SECONDS", 0.0)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The seed files read from disk, by name."""
    seen: list[str] = []
    real = rag.ingest.read_text

    def spy(path):
        seen.append(os.path.basename(path))
        return real(path)
    monkeypatch.setattr(rag.ingest, "read_text", spy)
    return seen


def _assistant(seeds, tmp_path, emb, build: bool = True) -> Assistant:
    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "ix", cache_dir=tmp_path / "cache")
    return Assistant.open(settings=settings, embedder=emb) if build else Assistant(settings, emb)


def test_a_rebuild_reads_only_the_new_file(seeds, tmp_path, fake_embedder, settled, reads):
    a = _assistant(seeds, tmp_path, fake_embedder)
    assert reads and list((tmp_path / "cache" / "seeds").glob("*.json"))
    reads.clear()
    (seeds / "penguins.txt").write_text("Penguin census\n\nThe census counted 4,321 penguins.", encoding="utf-8")
    report = a.rebuild()
    assert reads == ["penguins.txt"] and report.added == ["Penguin census"] and report.unchanged == 6
    assert a.search("penguins census", k=1, mode="bm25")[0].chunk.source == "penguins.txt"
    reads.clear()
    assert not a.rebuild().wrote and reads == []


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_read_again(seeds, tmp_path, fake_embedder, settled, reads):
    note = seeds / "note.txt"
    note.write_text("Weather note\n\nIt rained in Moscow on Monday.", encoding="utf-8")
    a = _assistant(seeds, tmp_path, fake_embedder)
    st = note.stat()
    note.write_text("Weather note\n\nIt snowed in Moscow on Monday.", encoding="utf-8")  # same size
    os.utime(note, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime: only ctime tells
    reads.clear()
    report = a.rebuild()
    assert reads == ["note.txt"] and report.changed == ["Weather note"]
    assert "snowed" in a.search("Moscow weather", k=1, mode="bm25")[0].chunk.text


def test_a_damaged_or_deleted_index_is_rebuilt_from_the_files_not_from_the_record(seeds, tmp_path, fake_embedder,
                                                                                 settled, reads):
    import shutil

    a = _assistant(seeds, tmp_path, fake_embedder)
    seg = next(p for p in (tmp_path / "ix").iterdir() if p.name.startswith("seg-"))
    (seg / "vectors.faiss").write_bytes(b"broken")
    reads.clear()
    report = _assistant(seeds, tmp_path, fake_embedder, build=False).rebuild()
    assert report.repaired and len(reads) == len(list(seeds.iterdir()))
    shutil.rmtree(tmp_path / "ix")
    b = _assistant(seeds, tmp_path, fake_embedder)
    assert b.status()["documents"] == 6
    assert all(h.chunk.text for h in b.search("Russia tanks", k=5, mode="bm25"))
    del a


def test_an_unreadable_record_means_every_file_is_read(seeds, tmp_path, fake_embedder, settled, reads):
    _assistant(seeds, tmp_path, fake_embedder)
    for p in (tmp_path / "cache" / "seeds").glob("*.json"):
        p.write_text("{not json", encoding="utf-8")
    reads.clear()
    assert not _assistant(seeds, tmp_path, fake_embedder, build=False).rebuild().wrote and reads


def test_files_written_just_now_are_not_vouched_for(seeds, tmp_path, fake_embedder, reads):
    a = _assistant(seeds, tmp_path, fake_embedder)  # the copies in seeds/ were written just now
    reads.clear()
    a.rebuild()
    assert reads  # read again: a change within the same moment would not show in their stat


@pytest.mark.slow
def test_a_damaged_postgresql_index_is_rebuilt_whole_from_every_file(seeds, tmp_path, fake_embedder, settled,
                                                                      reads, pg_url):
    settings = Settings(seeds_dir=seeds, store=pg_url, cache_dir=tmp_path / "cache")
    a = Assistant.open(settings=settings, embedder=fake_embedder)
    gen = a.store.status()["generation"]
    a.store._conn.execute(f"DELETE FROM rag_passages_g{gen} WHERE ord = 0")  # damage the record cannot see
    reads.clear()
    b = Assistant(settings, fake_embedder)
    report = b.rebuild()
    assert report.repaired and report.full and len(reads) == len(list(seeds.iterdir()))
    b.store.check(deep=True)
    assert b.status()["documents"] == 6 and all(h.chunk.text for h in b.search("Russia tanks", k=5, mode="bm25"))
