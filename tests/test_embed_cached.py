import threading

import numpy as np

from rag.embed.cached import CachedEmbedder


class Counting:
    """A tiny embedder that counts the texts it is asked to encode."""

    model_id, dim, max_tokens = "counting", 3, 0

    def __init__(self):
        self.seen = []

    def encode(self, texts, kind="passage", *, batch_size=32, progress=False):
        self.seen += list(texts)
        out = np.array([[len(t), t.count("a"), 1.0 if kind == "query" else 2.0] for t in texts], dtype=np.float32)
        return out.reshape(len(texts), 3)


def test_each_text_is_encoded_once_and_the_vectors_are_the_models():
    inner = Counting()
    cached = CachedEmbedder(inner, size=100)
    first = cached.encode(["alpha", "beta", "alpha"])
    again = cached.encode(["beta", "gamma", "alpha"])
    assert inner.seen == ["alpha", "beta", "gamma"]
    assert np.array_equal(first, inner.encode(["alpha", "beta", "alpha"]))
    assert np.array_equal(again, inner.encode(["beta", "gamma", "alpha"]))
    assert (cached.hits, cached.misses) == (2, 4)


def test_kinds_are_kept_apart_and_the_wrapped_attributes_show_through():
    inner = Counting()
    cached = CachedEmbedder(inner)
    assert cached.encode(["x"], "query")[0, 2] == 1.0 and cached.encode(["x"], "passage")[0, 2] == 2.0
    assert (cached.model_id, cached.dim, cached.max_tokens) == ("counting", 3, 0)


def test_the_cache_is_bounded_least_recently_used_first_out():
    inner = Counting()
    cached = CachedEmbedder(inner, size=2)
    cached.encode(["a", "b"])
    cached.encode(["a"])          # "a" is now the most recent
    cached.encode(["c"])          # "b" goes
    assert len(cached) == 2
    inner.seen.clear()
    cached.encode(["a", "b", "c"])
    assert inner.seen == ["b"]


def test_size_zero_turns_it_off_and_empty_input_passes_through():
    inner = Counting()
    cached = CachedEmbedder(inner, size=0)
    cached.encode(["a"]), cached.encode(["a"])
    assert inner.seen == ["a", "a"] and len(cached) == 0
    assert CachedEmbedder(inner).encode([]).shape == (0, 3)


def test_concurrent_questions_share_it_safely():
    inner = Counting()
    cached = CachedEmbedder(inner, size=50)
    texts = [f"sentence {i}" for i in range(80)]
    errors = []

    def ask():
        try:
            out = cached.encode(texts)
            assert np.array_equal(out, Counting().encode(texts))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(cached) == 50
