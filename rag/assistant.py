"""The facade that the CLI, the chat page and user code share."""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from . import store
from .answer import Answerer, answerer_names, get_answerer
from .bm25 import Analyzer
from .chunk import Chunker
from .config import Settings
from .embed import Embedder, embedder_for
from .errors import IndexMissingError, QuestionError, RagError
from .indexer import BuildReport, build_index, expected_manifest
from .ingest import SUFFIXES, IngestError, decode_text, read_seeds
from .llm_client import ChatClient
from .retrieve import Retriever
from .types import Answer, AnswerStream, Hit

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class Assistant:
    """Question answering over the articles in ``settings.seeds_dir``.

    >>> a = Assistant.open()                       # builds the index if missing or stale
    >>> ans = a.ask("How many tanks did Russia produce in 2024?")
    >>> ans.text, ans.citations[0].chunk.title
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self.chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.encoding)
        self.analyzer = Analyzer()
        self._retriever: Retriever | None = None
        self._answerers: dict[str, Answerer] = {}
        self._chat = ChatClient.from_settings(settings)  # for follow-up rewriting; connects on first use
        self._lock = threading.RLock()  # one rebuild at a time; questions never wait for it
        self._answerers_lock = threading.Lock()  # each answerer (and its models) is made once

    @classmethod
    def open(cls, seeds_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
             settings: Settings | None = None, build: bool = True, progress: bool = False,
             embedder: Embedder | None = None) -> "Assistant":
        """Open the index (building or updating it from ``seeds_dir`` first when ``build``)."""
        settings = (settings or Settings.from_env()).with_(seeds_dir=_path(seeds_dir), index_dir=_path(index_dir))
        self = cls(settings, embedder)
        if build:
            self.rebuild(progress=progress)
        else:
            self.load()
        return self

    # -- index -------------------------------------------------------------------------------
    def rebuild(self, progress: bool = False) -> BuildReport:
        """Update the index from the seeds folder: embed what is new or changed, drop what is gone."""
        with self._lock:
            found = read_seeds(self.settings.seeds_dir)
            report = build_index(found.documents, self.settings.index_dir, embedder=self.embedder,
                                 chunker=self.chunker, analyzer=self.analyzer, progress=progress,
                                 skipped=found.skipped)
            if report.wrote or self._retriever is None:
                self.load()
            log.info("%s", report.summary())
            return report

    def load(self) -> None:
        """(Re)load the index from disk; fails if it is missing or was built with other settings."""
        with self._lock:
            expect = expected_manifest(self.embedder, self.chunker, self.analyzer)
            index = store.load_index(self.settings.index_dir, expect, threads=self.settings.faiss_threads)
            self._retriever = Retriever(index, self.embedder, mode=self.settings.mode,
                                        weight=self.settings.dense_weight, reranker=self._reranker())

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
        """Documents, passages, model and build time of the live index."""
        m = self.retriever.index.manifest
        docs = m.get("documents", {})
        return {"documents": len(docs), "passages": m.get("passages", 0),
                "model": m.get("embedder", {}).get("model_id"), "built_at": m.get("built_at"),
                "index_dir": str(self.settings.index_dir),
                "titles": [d["title"] for d in docs.values()], "skipped": m.get("skipped", [])}

    def add_document(self, filename: str, data: bytes, progress: bool = False) -> BuildReport:
        """Save an uploaded file into the seeds folder (validated, never outside it) and index it."""
        name = safe_filename(filename)
        if len(data) > MAX_UPLOAD_BYTES:
            raise RagError(f"{name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        if Path(name).suffix.lower() in (".txt", ".md", ".markdown"):
            try:
                decode_text(data)
            except IngestError as exc:
                raise RagError(f"{name}: {exc}") from None
        elif not data.strip():
            raise RagError(f"{name}: the file is empty")
        target = self.settings.seeds_dir / name
        self.settings.seeds_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.upload")
        tmp.write_bytes(data)
        tmp.replace(target)
        report = self.rebuild(progress=progress)
        if any(f == name for f, _ in report.skipped):
            reason = next(why for f, why in report.skipped if f == name)
            target.unlink(missing_ok=True)
            self.rebuild()
            raise RagError(f"{name}: {reason}")
        return report

    def warm_up(self) -> None:
        """Load what a question needs (models, and the one-time query-encoder export) ahead of the first one."""
        try:
            self.ask("What are the articles about?")
        except RagError as exc:  # e.g. an empty index: the page still opens and says so
            log.warning("warm-up question failed: %s", exc)

    # -- questions ---------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty: type a question about the articles")
        q = " ".join(question.split())
        if len(q) > self.settings.max_question_chars:
            raise QuestionError(f"the question is too long ({len(q):,} characters; the limit is "
                                f"{self.settings.max_question_chars:,}): shorten it")
        return q

    def search(self, question: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """The best-matching passages, each with its score and source."""
        q = self.check_question(question)
        return self.retriever.search(q, k or self.settings.k, mode)

    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.answerer
        worker = self._answerers.get(name)
        if worker is None:
            with self._answerers_lock:
                worker = self._answerers.get(name)
                if worker is None:
                    worker = get_answerer(name, settings=self.settings, embedder=self.embedder)
                    self._answerers[name] = worker
        return worker

    def answerer_names(self) -> list[str]:
        """Answerers usable now (the LLM one only when an endpoint is configured)."""
        return [n for n in answerer_names() if n != "llm" or self.settings.llm_configured]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            answerer: str | None = None, history: list[dict] | None = None) -> Answer:
        """Answer ``question`` from the articles, with citations."""
        return self.ask_stream(question, k, mode, answerer, history).answer

    def ask_stream(self, question: str, k: int | None = None, mode: str | None = None,
                   answerer: str | None = None, history: list[dict] | None = None) -> AnswerStream:
        """The answer as it is produced: iterate for text pieces, then read ``.answer``.

        The question is checked, rewritten (follow-ups) and searched before this returns,
        so bad input raises here, not while iterating.
        """
        q = self.check_question(question)
        worker = self.answerer(answerer)
        standalone = self.condense(q, history) if history else q
        retriever = self.retriever  # read once: a rebuild may swap in a new one meanwhile
        hits = retriever.search(standalone, k or self.settings.k, mode)
        return worker.stream(standalone, hits)

    def condense(self, question: str, history: list[dict]) -> str:
        """A follow-up question rewritten to stand alone, from the conversation so far."""
        from .conversation import condense

        return condense(question, history, llm=self._chat if self._chat.configured else None)


def safe_filename(filename: str) -> str:
    """A plain file name inside the seeds folder, or a RagError saying why not."""
    name = Path(str(filename).replace("\\", "/")).name
    name = _SAFE_NAME.sub("_", name).strip(" .")
    if not name or name.startswith("."):
        raise RagError(f"{filename!r} is not a usable file name")
    if Path(name).suffix.lower() not in SUFFIXES:
        raise RagError(f"{name}: only {', '.join(sorted(SUFFIXES))} files can be added")
    return name


def _path(p: str | Path | None) -> Path | None:
    return Path(p) if p is not None else None
