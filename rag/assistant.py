"""The facade that the CLI, the chat page and user code share."""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

from . import catalog
from .answer import Answerer, answerer_names, get_answerer
from .bm25 import Analyzer
from .chunk import Chunker
from .config import Settings
from .documents import commit_upload, safe_filename, seed_file, stage_upload
from .embed import CachedEmbedder, Embedder, embedder_for
from .arguments import (check_filters, check_history, check_k, check_mode_arg, check_model_path, check_name,
                        check_text)
from .errors import ArgumentError, IndexMissingError, RagError
from .indexer import BuildReport, build_index, expected_manifest
from .ingest import MB
from .progress import Progress
from .llm_client import ChatClient
from .retrieve import Retriever
from .seed_record import SeedRecord, read_changed
from .store import Store, open_store
from .types import Answer, AnswerStream, Document, Filters, Hit

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class Assistant:
    """Question answering over the articles in ``settings.seeds_dir``.

    >>> a = Assistant.open()                       # builds the index if missing or stale
    >>> ans = a.ask("How many tanks did Russia produce in 2024?")
    >>> ans.text, ans.citations[0].chunk.title
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        if embedder is None:
            check_model_path(settings.embed_model)
        self.embedder = embedder or embedder_for(settings)
        self._vectors = CachedEmbedder(self.embedder, settings.vector_cache)  # questions and sentences: once per process
        self.chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.encoding)
        self.analyzer = Analyzer()
        self._retriever: Retriever | None = None
        self._store: Store | None = None
        self._answerers: dict[str, Answerer] = {}
        self._chat = ChatClient.from_settings(settings)  # for follow-up rewriting; connects on first use
        self._lock = threading.RLock()  # one rebuild at a time; questions never wait for it
        self._answerers_lock = threading.Lock()  # each answerer (and its models) is made once

    @classmethod
    def open(cls, seeds_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
             settings: Settings | None = None, build: bool = True, progress: Progress = False,
             embedder: Embedder | None = None, allow_empty: bool = False) -> "Assistant":
        """Open the index (building or updating it from ``seeds_dir`` first when ``build``;
        ``allow_empty`` as in ``rebuild``)."""
        settings = (settings or Settings.from_env()).with_(seeds_dir=_path(seeds_dir), index_dir=_path(index_dir))
        self = cls(settings, embedder)
        if build:
            self.rebuild(progress=progress, allow_empty=allow_empty)
        else:
            self.load()
        return self

    # -- index -------------------------------------------------------------------------------
    def rebuild(self, progress: Progress = False, ray: str | None = None, allow_empty: bool = False) -> BuildReport:
        """Update the index from the seeds folder: embed what is new or changed, drop what is gone.

        ``ray``: embed the passages on a Ray cluster (``"local"``, or an address); default
        ``Settings.ray_address`` ("" = in this process). A seeds folder that does not exist is a
        SeedsError; one with nothing to index while the index holds documents is one too, unless
        ``allow_empty`` (then the index is emptied).
        """
        from .embed.ray_embed import ray_embedder

        with self._lock:
            s = self.settings
            record = SeedRecord.for_settings(s)
            found = read_changed(s.seeds_dir, round(s.max_file_mb * MB), record, self.store,
                                 expected_manifest(self.embedder, self.chunker, self.analyzer))
            report = build_index(found.documents, self.store, embedder=ray_embedder(self.embedder, s, ray),
                                 chunker=self.chunker, analyzer=self.analyzer, progress=progress,
                                 skipped=found.skipped, allow_empty=allow_empty, where=str(s.seeds_dir))
            record.save(found)
            if report.wrote or self._retriever is None:
                self.load()
            log.info("%s", report.summary())
            return report

    def load(self) -> None:
        """(Re)load the index from disk; fails if it is missing or was built with other settings."""
        with self._lock:
            expect = expected_manifest(self.embedder, self.chunker, self.analyzer)
            self.store.check(expect)
            self._retriever = Retriever(self.store, self._vectors, mode=self.settings.mode,
                                        weight=self.settings.dense_weight, reranker=self._reranker())

    @property
    def store(self) -> Store:
        """The index's store (``Settings.store``), opened on first use."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    def _reranker(self):
        from .rerank import RERANKERS

        # "" is the default, "none" (a no-op); onnx_threads reaches rerankers that run onnxruntime
        return RERANKERS.create_from(self.settings.reranker or "none",
                                     {"threads": self.settings.onnx_threads or None})

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            raise IndexMissingError("the index is not loaded: call Assistant.open() or rebuild()")
        return self._retriever

    def status(self) -> dict:
        """Documents, passages, model and build time of the live index (see ``catalog.status``)."""
        return catalog.status(self.retriever.store, self.settings.index_dir)

    def documents(self) -> list[dict]:
        """Every indexed article: ``{id, title, source, authors, outlet, date, published, passages}``."""
        return catalog.documents(self.store)

    def facets(self) -> dict[str, list[str]]:
        """The values a filter can take here: ``outlets``, ``authors``, ``articles`` (titles), ``dates``."""
        return catalog.facets(self.documents())

    def article(self, doc_id: str) -> Document:
        """The whole indexed article ``doc_id``, read from its file in the seeds folder."""
        return catalog.article(self.store, self.settings.seeds_dir, doc_id)

    def add_document(self, filename: str, data: bytes, progress: Progress = False) -> BuildReport:
        """Save an uploaded file into the seeds folder (validated, never outside it) and index it.

        Refused (nothing saved): a bad name, type or size, an unreadable file, a file whose article is
        already indexed (``DuplicateDocumentError``), a name already taken (``DocumentExistsError``).
        """
        name = safe_filename(filename)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentError(f"{name}: the file's content must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) > MAX_UPLOAD_BYTES:
            raise RagError(f"{name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        with self._lock:
            target = self.settings.seeds_dir / name
            try:
                tmp = stage_upload(self.settings.seeds_dir, name, data, self._indexed_documents())
                commit_upload(tmp, target)
            except OSError as exc:  # a full disk, a read-only seeds folder: say so, leave nothing behind
                with contextlib.suppress(OSError):
                    (self.settings.seeds_dir / f".upload-{name}").unlink(missing_ok=True)
                raise RagError(f"cannot save {name} in {self.settings.seeds_dir} ({exc.strerror or exc})") from None
            report = self.rebuild(progress=progress)
            if any(f == name for f, _ in report.skipped):
                reason = next(why for f, why in report.skipped if f == name)
                target.unlink(missing_ok=True)
                self.rebuild()
                raise RagError(f"{name}: {reason}")
            return report

    def remove_document(self, name: str, progress: bool = False) -> BuildReport:
        """Delete the file ``name`` from the seeds folder and drop its articles from the index.

        The file is set aside (hidden) until the index no longer holds it, and put back if that fails.
        """
        with self._lock:
            path = seed_file(self.settings.seeds_dir, name)
            hidden = path.with_name(f".removing-{path.name}")
            path.replace(hidden)
            try:
                report = self.rebuild(progress=progress, allow_empty=True)  # asked for
            except BaseException:
                hidden.replace(path)
                raise
            hidden.unlink()
            return report

    def _indexed_documents(self) -> dict[str, dict]:
        """The live index's documents: id -> {"hash", "title", "source", "passages"}."""
        return dict(self.store.documents())

    def warm_up(self) -> None:
        """Load what a question needs (models, and the one-time query-encoder export) ahead of the
        first one; when every passage's sentences fit in a tenth of ``vector_cache``, embed them too."""
        try:
            self.ask("What are the articles about?")
            warm = getattr(self.answerer(), "warm", None)
            passages = len(self.store)
            if warm is not None and 0 < passages * 10 <= self.settings.vector_cache:
                n = warm(c for d in self.store.documents() for c in self.store.chunks_of(d))
                log.info("embedded the %d quotable sentences of %d passages ahead of questions", n, passages)
        except RagError as exc:  # e.g. an empty index: the page still opens and says so
            log.warning("warm-up question failed: %s", exc)

    # -- questions ---------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        """``question`` with its whitespace collapsed; a QuestionError if it is not usable text."""
        return check_text(question, self.settings.max_question_chars)

    def search(self, question: str, k: int | None = None, mode: str | None = None,
               filters: Filters | dict | None = None) -> list[Hit]:
        """The best-matching passages, each with its score and source.

        ``filters`` (``rag.types.Filters``: outlet, author, article, since, until) restrict the
        passages before ranking, so up to ``k`` matching passages come back.
        """
        q = self.check_question(question)
        k, mode, filters = check_k(k), check_mode_arg(mode), check_filters(filters)
        return self.retriever.search(q, k or self.settings.k, mode, filters=filters)

    def answerer(self, name: str | None = None) -> Answerer:
        name = check_name(name, "answerer") or self.settings.answerer
        worker = self._answerers.get(name)
        if worker is None:
            with self._answerers_lock:
                worker = self._answerers.get(name)
                if worker is None:
                    worker = get_answerer(name, settings=self.settings, embedder=self._vectors)
                    self._answerers[name] = worker
        return worker

    def answerer_names(self) -> list[str]:
        """Answerers usable now (the LLM one only when an endpoint is configured)."""
        return [n for n in answerer_names() if n != "llm" or self.settings.llm_configured]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            answerer: str | None = None, history: list[dict] | None = None,
            filters: Filters | dict | None = None, *, rewrite: bool = True) -> Answer:
        """Answer ``question`` from the articles (only those passing ``filters``), with citations."""
        return self.ask_stream(question, k, mode, answerer, history, filters, rewrite=rewrite).answer

    def ask_stream(self, question: str, k: int | None = None, mode: str | None = None,
                   answerer: str | None = None, history: list[dict] | None = None,
                   filters: Filters | dict | None = None, *, rewrite: bool = True) -> AnswerStream:
        """The answer as it is produced: iterate for text pieces, then read ``.answer``.

        The question and filters are checked, rewritten (a follow-up, given ``history``, unless
        ``rewrite`` is False) and searched before this returns, so bad input raises here, not
        while iterating. ``stream.query`` is the question as searched.
        """
        q = self.check_question(question)
        k, mode, filters = check_k(k), check_mode_arg(mode), check_filters(filters)
        history = check_history(history)
        worker = self.answerer(answerer)
        standalone = self.condense(q, history) if history and rewrite else q
        hits = self.retriever.search(standalone, k or self.settings.k, mode, filters=filters)
        stream = worker.stream(standalone, hits)
        stream.query = standalone
        return stream

    def condense(self, question: str, history: list[dict]) -> str:
        """A follow-up question rewritten to stand alone, from the conversation so far."""
        from .conversation import condense

        return condense(question, history, llm=self._chat if self._chat.configured else None)


def _path(p: str | Path | None) -> Path | None:
    if p is not None and not isinstance(p, (str, os.PathLike)):
        raise ArgumentError(f"a folder must be a path (str or Path), not {type(p).__name__}")
    return Path(p) if p is not None else None
