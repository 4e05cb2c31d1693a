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


def test_hybrid_weight_defaults_to_the_value_tuned_for_the_backend():
    assert Settings().dense_weight == 0.5
    assert Settings(embed_backend="onnx").dense_weight == 0.7
    assert Settings(embed_backend="onnx", hybrid_weight=0.2).dense_weight == 0.2
