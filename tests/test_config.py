import pytest

from rag.config import Settings
from rag.errors import RagError


def test_env_overrides_defaults_and_keywords_win():
    s = Settings.from_env({"RAG_K": "7", "RAG_MODE": "bm25", "RAG_HYBRID_WEIGHT": "0.3"}, k=3)
    assert (s.k, s.mode, s.hybrid_weight) == (3, "bm25", 0.3)


def test_openai_key_fallback_and_key_hidden_from_repr():
    s = Settings.from_env({"OPENAI_API_KEY": "sk-secret-123"})
    assert s.llm_api_key == "sk-secret-123"
    assert "sk-secret" not in repr(s)
    assert Settings.from_env({"OPENAI_API_KEY": "a", "RAG_LLM_API_KEY": "b"}).llm_api_key == "b"


@pytest.mark.parametrize("env, message", [
    ({"RAG_MODE": "fuzzy"}, "dense, bm25, hybrid"),
    ({"RAG_K": "many"}, "RAG_K must be a number"),
    ({"RAG_K": "0"}, "k must be at least 1"),
])
def test_bad_settings_say_what_is_wrong(env, message):
    with pytest.raises(RagError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": "5"}, "k must be a whole number, got '5'"),
    ({"k": True}, "k must be a whole number"),
    ({"llm_timeout": "soon"}, "llm_timeout must be a number"),
    ({"hybrid_weight": 2}, "hybrid_weight must be from 0.0 to 1.0"),
    ({"concurrency": 0}, "concurrency must be from 1 to 64"),
    ({"ann_kind": "flat"}, "valid: pq, hnsw, ivf"),
    ({"vector_cache": -1}, "vector_cache must be at least 0"),
    ({"embed_model": 3}, "embed_model must be text"),
])
def test_wrong_types_and_ranges_in_python_are_rag_errors(kwargs, message):
    with pytest.raises(RagError, match=message):
        Settings(**kwargs)


def test_paths_given_as_text_become_paths(tmp_path):
    s = Settings(seeds_dir=str(tmp_path))
    assert s.seeds_dir == tmp_path and Settings(llm_timeout=5).llm_timeout == 5


def test_hybrid_weight_defaults_to_the_value_tuned_for_the_backend():
    assert Settings().dense_weight == 0.5
    assert Settings(embed_backend="onnx").dense_weight == 0.7
    assert Settings(embed_backend="onnx", hybrid_weight=0.2).dense_weight == 0.2


def test_repr_shows_no_secret_and_no_password_in_a_url():
    s = Settings(llm_base_url="http://alice:s3cret@llm.local:8080/v1", llm_api_key="sk-key", auth="bob:hunter2",
                 store="postgresql://u:pgpass@db/rag")
    text = repr(s)
    for secret in ("s3cret", "sk-key", "hunter2", "pgpass", "alice"):
        assert secret not in text
    assert "http://***@llm.local:8080/v1" in text and "k=5" in text
    assert s.llm_base_url == "http://alice:s3cret@llm.local:8080/v1"  # the value itself is kept


def test_runtime_settings_come_from_the_environment():
    s = Settings.from_env({"RAG_FAISS_THREADS": "2", "RAG_ONNX_THREADS": "3", "RAG_CACHE_DIR": "/tmp/c",
                           "RAG_HOST": "0.0.0.0", "RAG_PORT": "8000", "RAG_AUTH": "u:p"})
    assert (s.faiss_threads, s.onnx_threads, s.host, s.port, s.auth) == (2, 3, "0.0.0.0", 8000, "u:p")
    assert str(s.cache_dir) == "/tmp/c"
    with pytest.raises(RagError, match="RAG_PORT must be a number"):
        Settings.from_env({"RAG_PORT": "http"})


def test_default_cache_dir_follows_rag_cache_dir_then_xdg(monkeypatch, tmp_path):
    from rag.config import default_cache_dir

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" == Settings().cache_dir
    monkeypatch.delenv("RAG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rag-articles"


def test_check_mode_is_the_one_mode_check():
    from rag.config import MODES, check_mode

    assert [check_mode(m) for m in MODES] == list(MODES)
    with pytest.raises(RagError, match="unknown retrieval mode 'x'; valid: dense, bm25, hybrid"):
        check_mode("x")


def test_hub_offline_keeps_a_users_choice(monkeypatch):
    from rag.config import hub_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_offline()
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hub_offline()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
