"""Index builds say what they are doing: loading the model, then passages embedded so far."""
from __future__ import annotations

from rag.chunk import Chunker
from rag.indexer import build_index
from rag.ingest import read_seeds


def test_a_callback_sees_loading_then_every_block_of_passages(seeds, tmp_path, fake_embedder):
    events = []
    report = build_index(read_seeds(seeds).documents, tmp_path / "ix", embedder=fake_embedder,
                         chunker=Chunker(), progress=lambda done, total, stage: events.append((done, total, stage)))
    n = report.embedded
    assert n > 40
    assert events[0] == (0, n, "loading the model")
    embedding = [e for e in events if e[2] == "embedding passages"]
    assert embedding[0] == (0, n, "embedding passages") and embedding[-1] == (n, n, "embedding passages")
    done = [d for d, _, _ in embedding]
    assert done == sorted(done) and len(done) >= 2


def test_the_terminal_bar_counts_passages_and_off_means_silent(seeds, tmp_path, fake_embedder, capsys):
    docs = read_seeds(seeds).documents
    build_index(docs, tmp_path / "quiet", embedder=fake_embedder, chunker=Chunker(), progress=False)
    assert capsys.readouterr().err == ""
    report = build_index(docs, tmp_path / "shown", embedder=fake_embedder, chunker=Chunker(), progress=True)
    err = capsys.readouterr().err
    assert "loading the model" in err
    assert f"embedding passages {report.embedded:,} / {report.embedded:,}" in err and "passages/s" in err
