"""What the index holds, for people browsing it: the articles with their bylines, the values a filter
can take, and an article's whole text read back from its file (``Assistant.documents/facets/article``)."""
from __future__ import annotations

from pathlib import Path

from .errors import RagError
from .ingest import IngestError, read_text, split_documents
from .types import Document


def documents(store) -> list[dict]:
    """Every article of ``store``: ``{id, title, source, authors, outlet, date, published, passages}``
    (the byline fields from its first passage)."""
    out = []
    for doc_id, info in store.documents().items():
        first = next(iter(store.chunks_of(doc_id)), None)
        out.append({"id": doc_id, "title": info["title"], "source": info["source"], "passages": info["passages"],
                    "authors": list(first.authors) if first else [], "outlet": first.outlet if first else None,
                    "date": first.date if first else None, "published": first.published if first else None})
    return out


def facets(docs: list[dict]) -> dict[str, list[str]]:
    """The values a filter can take over ``docs``: outlets, authors, articles (titles), and the first
    and last publication dates (``dates``, ISO; empty when no date was parsed)."""
    dates = sorted(d["published"] for d in docs if d["published"])
    return {"outlets": sorted({d["outlet"] for d in docs if d["outlet"]}),
            "authors": sorted({a for d in docs for a in d["authors"]}),
            "articles": [d["title"] for d in docs], "dates": dates[:1] + dates[-1:]}


def article(store, seeds_dir: Path, doc_id: str) -> Document:
    """The whole article ``doc_id`` as its file in ``seeds_dir`` holds it now (offsets in the file)."""
    meta = store.documents().get(doc_id)
    if meta is None:
        raise RagError(f"no article {doc_id!r} in the index")
    try:
        docs = split_documents(read_text(Path(seeds_dir) / meta["source"]), meta["source"])
    except (OSError, IngestError) as exc:
        raise RagError(f"{meta['source']} cannot be read: {exc}") from None
    found = [d for d in docs if d.id == doc_id]
    if not found:
        raise RagError(f"{meta['source']} no longer holds the article {meta['title']!r}; rebuild the index")
    return found[0]


def status(store, index_dir) -> dict:
    """What the live index holds: counts, model, build time, where it is, titles, skipped files."""
    m = store.manifest() or {}
    docs = store.documents()
    st = store.status()
    return {"documents": len(docs), "passages": m.get("passages", 0),
            "model": m.get("embedder", {}).get("model_id"), "built_at": m.get("built_at"),
            "index_dir": str(index_dir), "store": st["backend"], "location": st["location"],
            "titles": [d["title"] for d in docs.values()], "skipped": m.get("skipped", [])}
