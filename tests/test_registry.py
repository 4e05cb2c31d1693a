"""The name -> factory registry: unknown names and unknown options are errors listing the valid ones."""
from __future__ import annotations

import pytest

from rag.answer import ANSWERERS, get_answerer
from rag.embed import EMBEDDERS, get_embedder
from rag.errors import RagError, UnknownNameError
from rag.registry import Registry
from rag.rerank import RERANKERS, get_reranker


@pytest.fixture
def shapes() -> Registry:
    reg: Registry = Registry("shape")

    @reg.register("square")
    def square(side: float = 1.0, *, colour: str = "red") -> tuple:
        return ("square", side, colour)

    @reg.register("anything")
    def anything(**options) -> dict:
        return options
    return reg


def test_create_passes_options(shapes):
    assert shapes.create("square", side=2.0, colour="blue") == ("square", 2.0, "blue")
    assert shapes.names() == ["anything", "square"]
    assert shapes.options("square") == ["colour", "side"]


def test_unknown_name_lists_the_valid_ones(shapes):
    with pytest.raises(UnknownNameError, match=r"unknown shape 'circle'; valid: anything, square"):
        shapes.create("circle")


def test_unknown_option_is_an_error_listing_the_valid_ones(shapes):
    with pytest.raises(UnknownNameError, match=r"unknown option 'sidee' for shape 'square'; valid: colour, side"):
        shapes.create("square", sidee=3)
    with pytest.raises(RagError, match=r"unknown options 'a', 'b'"):
        shapes.create("square", a=1, b=2)


def test_factory_taking_any_option_gets_them_all(shapes):
    assert shapes.options("anything") is None
    assert shapes.create("anything", x=1) == {"x": 1}


def test_create_from_takes_only_the_offered_values_a_factory_uses(shapes):
    offered = {"colour": "green", "threads": 4}
    assert shapes.create_from("square", offered, side=5.0) == ("square", 5.0, "green")
    assert shapes.create_from("anything", offered) == offered
    with pytest.raises(UnknownNameError, match="sidee"):  # explicit options stay strict
        shapes.create_from("square", offered, sidee=5.0)


def test_builtin_factories_swallow_no_typo():
    """No built-in embedder, reranker or the registry of answerers lets a misspelt option through."""
    with pytest.raises(UnknownNameError, match="valid: .*query_runtime"):
        get_embedder("sentence-transformers", query_runtme="torch")
    with pytest.raises(UnknownNameError, match="valid: .*threads"):
        get_embedder("onnx", thread=2)
    with pytest.raises(UnknownNameError, match="valid: .*depth"):
        get_reranker("cross-encoder", dpeth=5)
    with pytest.raises(UnknownNameError, match="for reranker 'none'; valid: \\(none\\)"):
        get_reranker("none", depth=3)
    for reg in (EMBEDDERS, RERANKERS):
        for name in reg.names():
            assert reg.options(name) is not None, f"{reg.kind} {name!r} takes **kwargs"


def test_answerer_registry_is_strict_too():
    get_answerer("extractive")  # loads the built-ins
    reg: Registry = ANSWERERS
    assert "extractive" in reg.names()
    reg.register("strict-test")(lambda settings=None, embedder=None: "ok")
    try:
        assert get_answerer("strict-test", settings=None, embedder=None) == "ok"
        with pytest.raises(UnknownNameError, match="valid: embedder, settings"):
            get_answerer("strict-test", setings=None)
    finally:
        reg._factories.pop("strict-test")
