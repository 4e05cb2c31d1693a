"""Documents into passages that fit the embedder: nothing an embedder reads is ever cut off."""
from __future__ import annotations

import logging
from typing import Sequence

from .chunk import Chunker, TokenLimit, index_text
from .embed import Embedder
from .types import Chunk, Document

log = logging.getLogger(__name__)


def chunk_documents(docs: Sequence[Document], chunker: Chunker, embedder: Embedder) -> dict[str, list[Chunk]]:
    """doc id -> its passages (see ``chunk_document``)."""
    limit = TokenLimit.of(embedder)
    return {d.id: chunk_document(d, chunker, embedder, limit) for d in docs}


def chunk_document(d: Document, chunker: Chunker, embedder: Embedder, limit: TokenLimit | None) -> list[Chunk]:
    """The passages of ``d``, each within the embedder's own token limit under its title.

    The chunker packs sentences against that limit. Unless the embedder's counts add up over
    white space (``limit.exact``, e.g. WordPiece), the passages are counted once more (one batch)
    and the document is split again if any is too long.
    """
    chunks = chunker.chunk(d, limit=limit)
    if limit is None or limit.exact or not chunks:
        return chunks
    counts = limit.count_many([index_text(c) for c in chunks])
    if all(n + limit.special <= limit.max_tokens for n in counts):
        return chunks
    log.info("passages of %r split again to fit the embedder's %d tokens", d.title, limit.max_tokens)
    return chunker.chunk(d, fits=_fits(embedder, d.title), limit=limit)


def _fits(embedder: Embedder, title: str):
    """A check that a passage under its title fits the embedder's own token limit, if it has one."""
    count, limit = embedder.count_tokens, embedder.max_tokens
    if not limit:
        return None

    def fits(text: str) -> bool:
        probe = Chunk(id="", doc_id="", text=text, start=0, end=len(text), title=title)
        return count(index_text(probe)) <= limit
    return fits
