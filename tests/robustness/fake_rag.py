"""``python tests/robustness/fake_rag.py ARGS`` runs ``rag ARGS`` with the "fake" embedder backend
registered (a subprocess cannot use the fixture that registers it in-process).

``FAKE_EMBED_DELAY`` (seconds per passage) slows embedding down, and passages are embedded in
small batches (``EMBED_BATCH_PASSAGES`` = 8), so a rebuild writes while it runs: a kill at a
random moment lands anywhere in it.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for helpers

from helpers import FakeEmbedder  # noqa: E402

import rag.commit  # noqa: E402
from rag.embed import EMBEDDERS  # noqa: E402


class SlowFakeEmbedder(FakeEmbedder):
    def encode(self, texts, kind="passage", *, batch_size=32, progress=False):
        if kind == "passage":
            time.sleep(float(os.environ.get("FAKE_EMBED_DELAY", "0")) * len(texts))
        return super().encode(texts, kind, batch_size=batch_size, progress=progress)


@EMBEDDERS.register("fake")
def fake(model: str = "", query_runtime: str = "onnx") -> FakeEmbedder:
    return SlowFakeEmbedder(model)


if os.environ.get("FAKE_EMBED_DELAY"):
    rag.commit.EMBED_BATCH_PASSAGES = 8

if __name__ == "__main__":
    from rag.cli import run

    run()
