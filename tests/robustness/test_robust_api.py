"""The Python API refuses bad arguments with a RagError subclass whose message is one line saying
what is expected (wrong types included), and the assistant still answers afterwards."""
from __future__ import annotations

import numpy as np
import pytest

from robust_helpers import TANKS
from robust_checks import rag_error
from rag import Assistant, Settings
from rag.errors import ArgumentError, ModelPathError, QuestionError, RagError, SeedsError, UnknownNameError
from rag.types import Filters


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    from helpers import SEED, FakeEmbedder
    import shutil

    base = tmp_path_factory.mktemp("api")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    return Assistant.open(settings=Settings(seeds_dir=base / "seeds", index_dir=base / "index"),
                          embedder=FakeEmbedder())


def _answers(a: Assistant) -> None:
    ans = a.ask(TANKS)
    assert "1,500 tanks" in ans.text and ans.citations


BAD_CALLS = [  # (id, call, error class, message)
    ("question int", lambda a: a.ask(123), QuestionError, "the question must be text (str), not int"),
    ("question bytes", lambda a: a.ask(b"tanks?"), QuestionError, "not bytes"),
    ("question list", lambda a: a.search(["tanks"]), QuestionError, "not list"),
    ("question None", lambda a: a.ask(None), QuestionError, "the question is empty"),
    ("lone surrogate", lambda a: a.ask("tanks \udcff?"), QuestionError, "invalid character at position 7"),
    ("too long", lambda a: a.search("x " * 5000), QuestionError, "too long"),
    ("k str", lambda a: a.ask(TANKS, k="5"), ArgumentError, "k must be a whole number from 1 to 1000, not str '5'"),
    ("k float", lambda a: a.search(TANKS, k=2.5), ArgumentError, "not float 2.5"),
    ("k bool", lambda a: a.search(TANKS, k=True), ArgumentError, "not bool True"),
    ("k zero", lambda a: a.ask(TANKS, k=0), ArgumentError, "k must be from 1 to 1000, not 0"),
    ("k negative", lambda a: a.search(TANKS, k=-3), ArgumentError, "not -3"),
    ("k huge", lambda a: a.search(TANKS, k=10**9), ArgumentError, "not 1000000000"),
    ("mode int", lambda a: a.ask(TANKS, mode=3), ArgumentError, "mode must be text (str), not int 3"),
    ("mode unknown", lambda a: a.search(TANKS, mode="fuzzy"), ArgumentError,
     "unknown mode 'fuzzy'; valid: dense, bm25, hybrid"),
    ("answerer int", lambda a: a.ask(TANKS, answerer=7), ArgumentError, "answerer must be a name (str), not int 7"),
    ("answerer list", lambda a: a.ask(TANKS, answerer=["llm"]), ArgumentError, "not list"),
    ("answerer unknown", lambda a: a.ask(TANKS, answerer="oracle"), UnknownNameError, "unknown answerer 'oracle'"),
    ("history str", lambda a: a.ask(TANKS, history="x"), ArgumentError, "history must be a list of"),
    ("history dict", lambda a: a.ask(TANKS, history={"role": "user", "content": "hi"}), ArgumentError,
     "history must be a list of"),
    ("history item int", lambda a: a.ask(TANKS, history=[1]), ArgumentError, "history[0] must be"),
    ("history no role", lambda a: a.ask(TANKS, history=[{"content": "hi"}]), ArgumentError, "history[0] must be"),
    ("history bad role", lambda a: a.ask(TANKS, history=[{"role": "user", "content": "a"},
                                                         {"role": "robot", "content": "b"}]),
     ArgumentError, "history[1] has role 'robot'; valid: user, assistant, system"),
    ("history content int", lambda a: a.ask(TANKS, history=[{"role": "user", "content": 5}]), ArgumentError,
     "history[0] content must be text (str), not int 5"),
    ("history surrogate", lambda a: a.ask(TANKS, history=[{"role": "user", "content": "\udcff"}]), ArgumentError,
     "lone surrogate"),
    ("filters list", lambda a: a.search(TANKS, filters=["outlet"]), ArgumentError, "filters must be a rag.Filters"),
    ("filters str", lambda a: a.ask(TANKS, filters="Substack"), ArgumentError, "not str 'Substack'"),
    ("filters unknown key", lambda a: a.search(TANKS, filters={"publisher": "x"}), QuestionError,
     "unknown filter 'publisher'; valid: outlet, author, article, since, until"),
    ("filters value int", lambda a: a.search(TANKS, filters={"outlet": 5}), ArgumentError,
     "the filter outlet must be text (str), not int 5"),
    ("filters bad date", lambda a: a.search(TANKS, filters=Filters(since="soon")), QuestionError,
     "since 'soon' is not a date: write it as YYYY-MM-DD"),
    ("seeds folder int", lambda a: Assistant.open(seeds_dir=5, embedder=a.embedder), ArgumentError,
     "a folder must be a path (str or Path), not int"),
    ("upload name bytes", lambda a: a.add_document(b"x.txt", b"text"), ArgumentError, "the file name must be text"),
    ("upload data str", lambda a: a.add_document("x.txt", "text"), ArgumentError, "must be bytes, not str"),
]


@pytest.mark.parametrize("call, cls, message", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_a_bad_argument_is_a_rag_error_saying_what_is_expected(assistant, call, cls, message):
    with pytest.raises(RagError) as info:
        call(assistant)
    assert isinstance(info.value, cls), type(info.value)
    rag_error(info.value, message)
    _answers(assistant)


def test_good_arguments_of_other_integer_and_sequence_types_work(assistant):
    assert len(assistant.search(TANKS, k=np.int64(2))) == 2
    hist = ({"role": "user", "content": "What did Blackburn write?"}, {"role": "assistant", "content": "..."})
    assert assistant.ask("how many tanks did Russia produce in 2024?", history=hist).citations
    hits = assistant.search(TANKS, filters={"outlet": "The National Interest"})
    assert hits and all(h.chunk.outlet == "The National Interest" for h in hits)


def test_rebuild_of_a_missing_seeds_folder_is_a_seeds_error_and_the_index_stays(assistant, tmp_path):
    a = Assistant(assistant.settings.with_(seeds_dir=tmp_path / "typo"), embedder=assistant.embedder)
    with pytest.raises(SeedsError) as info:
        a.rebuild()
    rag_error(info.value, "typo does not exist")
    _answers(Assistant.open(settings=assistant.settings, embedder=assistant.embedder, build=False))


def test_rebuild_of_an_empty_seeds_folder_needs_allow_empty(assistant, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    a = Assistant.open(settings=assistant.settings.with_(seeds_dir=empty), embedder=assistant.embedder, build=False)
    with pytest.raises(SeedsError) as info:
        a.rebuild()
    rag_error(info.value, "no documents to index", "allow_empty=True")
    _answers(a)
    with pytest.raises(SeedsError):
        Assistant.open(settings=a.settings, embedder=a.embedder)


def test_a_model_path_that_does_not_exist_is_a_model_path_error(tmp_path):
    with pytest.raises(ModelPathError) as info:
        Assistant(Settings(seeds_dir=tmp_path, index_dir=tmp_path / "ix", embed_model=str(tmp_path / "no-model")))
    rag_error(info.value, f"the embedding model {tmp_path / 'no-model'} does not exist")


def test_max_file_mb_must_be_positive():
    with pytest.raises(RagError, match="max_file_mb must be more than 0"):
        Settings(max_file_mb=0)
    with pytest.raises(RagError, match="RAG_MAX_FILE_MB must be a number"):
        Settings.from_env({"RAG_MAX_FILE_MB": "lots"})
    assert Settings.from_env({"RAG_MAX_FILE_MB": "0.5"}).max_file_mb == 0.5
