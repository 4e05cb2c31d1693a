"""Settings with defaults, read from the environment (``RAG_*``) and validated once."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import RagError

MODES = ("dense", "bm25", "hybrid")
QUERY_RUNTIMES = ("onnx", "torch")
EMBED_PRECISIONS = ("auto", "fp32", "bf16", "int8")
ANN_KINDS = ("pq", "hnsw", "ivf")  # rag/store/vectors.py
# numeric settings: (lowest, highest or None)
_RANGES = {"chunk_tokens": (16, None), "chunk_overlap": (0, None), "k": (1, None), "hybrid_weight": (0.0, 1.0),
           "ann_threshold": (0, None), "ann_nprobe": (1, None), "ann_ef_search": (1, None), "ann_refine": (1, None),
           "merge_factor": (2, None), "cleanup_grace": (0.0, None), "ray_concurrency": (1, None),
           "ray_batch_size": (1, None), "ray_num_gpus": (0.0, None), "pg_ef_search": (1, None),
           "concurrency": (1, 64), "vector_cache": (0, None), "answer_candidates": (1, 50),
           "page_sessions": (1, None)}
TUNED_HYBRID_WEIGHT = {"sentence-transformers": 0.5, "onnx": 0.7}


def default_cache_dir() -> Path:
    """``RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/rag-articles``, else ``~/.cache/rag-articles``."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-articles"


def hub_offline() -> None:
    """Keep Hugging Face libraries off the network (``HF_HUB_OFFLINE=1`` unless the user set it).

    The one place this is set: called by the entry points and before a model is loaded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def check_mode(mode: str) -> str:
    """``mode`` if it is a retrieval mode, else a RagError listing the valid ones."""
    if mode not in MODES:
        raise RagError(f"unknown retrieval mode {mode!r}; valid: {', '.join(MODES)}")
    return mode


def scrub_url(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it masked as ``***@``."""
    return re.sub(r"(\w+://)[^/\s@]+@", r"\1***@", text)


def _default_root() -> Path:
    """The project folder when run from a checkout, else the current directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "seeds").is_dir() else Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Everything configurable. ``Settings.from_env()`` reads ``RAG_<FIELD>`` variables."""

    seeds_dir: Path = field(default_factory=lambda: _default_root() / "seeds")
    index_dir: Path = field(default_factory=lambda: _default_root() / "index")
    # embedding: backend name in rag.embed's registry, and a model name or path ("" = its default)
    embed_backend: str = "sentence-transformers"
    embed_model: str = ""
    # how the sentence-transformers backend encodes questions: "onnx" (a cached export, ~2.5x faster) or "torch"
    query_runtime: str = "onnx"
    # chunking, in tiktoken tokens of `encoding`
    encoding: str = "cl100k_base"
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    # retrieval
    mode: str = "hybrid"
    k: int = 5
    # weight of the dense scores in the hybrid sum (bm25 gets 1 - w); None = the embedder's tuned value
    hybrid_weight: float | None = None
    reranker: str = "none"
    # answering
    answerer: str = "extractive"
    max_question_chars: int = 2000
    # extractive answerer: best candidate sentences the cross-encoder reads (to rank them, and to
    # decide whether to answer at all); it is most of a question's time (BENCHMARKS.md, "Load")
    answer_candidates: int = 4
    # LLM endpoint (OpenAI-compatible chat completions)
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 60.0
    llm_max_tokens: int = 512
    llm_context_window: int = 8192
    # runtime: threads and caches (0 = automatic)
    faiss_threads: int = 1
    onnx_threads: int = 0
    # sentence vectors the answerers keep between questions (rag.embed.cached; 0 = none)
    vector_cache: int = 20_000
    cache_dir: Path = field(default_factory=default_cache_dir)
    # the chat page
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = field(default="", repr=False)  # "user:password" to require a login
    # where the index lives: "local" (the folder index_dir) or a postgresql:// URL
    store: str = field(default="local", repr=False)  # may hold a password: shown scrubbed by store_label
    # local store: a segment of this many passages or more gets an approximate vector index
    # instead of an exact one (0 = always exact), of kind pq (4-bit codes scanned, the best
    # ann_refine re-scored exactly), hnsw (search breadth: ann_ef_search) or ivf (lists searched:
    # ann_nprobe); segments merged per tier; seconds a segment no longer used is kept for
    # processes still reading an older generation
    ann_threshold: int = 200_000
    ann_kind: str = "pq"
    ann_refine: int = 1000
    ann_nprobe: int = 32
    ann_ef_search: int = 128
    merge_factor: int = 10
    cleanup_grace: float = 300.0
    # PostgreSQL store: HNSW candidates examined per dense search (recall vs speed; >= the 100 candidates)
    pg_ef_search: int = 200
    # PostgreSQL store: below this many passages dense search scans every row (exact) instead of HNSW
    pg_exact_below: int = 20_000
    # PostgreSQL store: working memory of a full build (work_mem of the postings' sort,
    # maintenance_work_mem of the indexes; an HNSW graph that outgrows it builds several times
    # slower: about 2GB per million 384-d passages)
    pg_build_memory: str = "1GB"
    # torch device of the sentence-transformers backend: auto (CUDA when visible), cpu, cuda, cuda:N
    embed_device: str = "auto"
    # embedding passages on Ray: "" = in this process, "local" = a Ray cluster on this machine,
    # else a cluster address for ray.init ("auto", "ray://head:10001"); workers, rows per batch, GPUs per worker
    ray_address: str = ""
    ray_concurrency: int = 2
    ray_batch_size: int = 64
    ray_num_gpus: float = 0.0
    # jobs of fewer passages are embedded in process (a Ray job's actors take seconds to start)
    ray_min_passages: int = 256
    # seeds: a file larger than this many MB is skipped with a warning (listed in the build report)
    max_file_mb: float = 20.0
    # precision of the sentence-transformers backend: "auto" (bf16 index builds where the CPU computes
    # bf16 natively, else fp32), "fp32", "bf16" (large builds through torch in bf16: the same vectors,
    # ~1.8x torch fp32 here; rag/embed/bulk.py) or "int8" (a quantised export for passages and questions alike)
    embed_precision: str = "auto"
    # the chat page: questions (page and /ask) answered at the same time; more wait in Gradio's queue
    concurrency: int = 4
    # the chat page: sessions whose page state the server keeps (~0.14 MB each; every raw HTTP /ask
    # call is a session of its own); the least recently used beyond this are dropped
    page_sessions: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):  # Settings(k="5") is a RagError, not a TypeError further on
            if str(f.type) == "Path" and isinstance(getattr(self, f.name), str):
                object.__setattr__(self, f.name, Path(getattr(self, f.name)))
            _check_type(f.name, getattr(self, f.name), str(f.type))
        check_mode(self.mode)
        for name, valid in (("query_runtime", QUERY_RUNTIMES), ("embed_precision", EMBED_PRECISIONS),
                            ("ann_kind", ANN_KINDS)):
            if getattr(self, name) not in valid:
                raise RagError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if value is not None and not (low <= value and (high is None or value <= high)):
                bound = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise RagError(f"{name} must be {bound}, got {value!r}")
        if not self.chunk_overlap <= self.chunk_tokens // 2:
            raise RagError("chunk_overlap must be between 0 and half of chunk_tokens")
        if not self.max_file_mb > 0:
            raise RagError("max_file_mb must be more than 0")
        if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB|TB)", self.pg_build_memory):
            raise RagError(f"pg_build_memory must be a size such as 512MB or 2GB, got {self.pg_build_memory!r}")

    def __repr__(self) -> str:
        """Fields as usual, without secrets: no key, login or store URL, and no password in a URL."""
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return scrub_url(f"Settings({shown})")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then ``RAG_*`` variables, then keyword overrides (None is ignored)."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get("RAG_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw)
        if "llm_api_key" not in values and env.get("OPENAI_API_KEY"):
            values["llm_api_key"] = env["OPENAI_API_KEY"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("seeds_dir", "index_dir", "cache_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def dense_weight(self) -> float:
        """The hybrid weight in force: as set, else tuned per backend on SciFact train (BENCHMARKS.md)."""
        if self.hybrid_weight is not None:
            return self.hybrid_weight
        return TUNED_HYBRID_WEIGHT.get(self.embed_backend, 0.5)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)


def _check_type(name: str, value, declared: str) -> None:
    """A RagError unless ``value`` fits the field's declared type (int, float, str, bool, Path)."""
    if value is None and "None" in declared:
        return
    base = declared.split("|")[0].strip()
    ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
          "Path": lambda v: isinstance(v, Path)}.get(base)
    if ok is not None and not ok(value):
        raise RagError(f"{name} must be {_NOUNS.get(base, base)}, got {value!r}")


_NOUNS = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false", "Path": "a path"}


def _convert(name: str, raw: str):
    default = {f.name: f for f in fields(Settings)}[name]
    typ = str(default.type).split("|")[0].strip()  # "float | None" -> "float"
    try:
        if typ == "int":
            return int(raw)
        if typ == "float":
            return float(raw)
    except ValueError:
        raise RagError(f"RAG_{name.upper()} must be a number, got {raw!r}") from None
    return raw
