from unittest import mock

import pytest
import tiktoken

from rag.tokens import count_tokens, get_encoding


def test_cl100k_matches_known_ids_without_network():
    with mock.patch.object(tiktoken, "get_encoding", side_effect=AssertionError("would download")):
        enc = get_encoding("cl100k_base")
    assert enc.encode("hello world") == [15339, 1917]
    assert enc.decode(enc.encode("Dmitriev’s “New Détente”")) == "Dmitriev’s “New Détente”"


def test_o200k_available_and_counts_special_text():
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert count_tokens("<|endoftext|>") > 1  # treated as text, not a special token


def test_unknown_encoding_lists_valid_ones():
    with pytest.raises(ValueError, match="cl100k_base"):
        get_encoding("p50k_base")
