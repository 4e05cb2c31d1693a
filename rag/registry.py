"""A tiny name -> factory registry, shared by embedders, answerers and rerankers.

Factories take explicit keyword arguments: an unknown name or an unknown option is an
``UnknownNameError`` listing the valid ones (a typo never vanishes silently).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Mapping, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; unknown names and unknown options raise errors listing the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory
        return deco

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None

    def options(self, name: str) -> list[str] | None:
        """The keyword options the factory of ``name`` takes (None: it takes any, ``**kwargs``)."""
        params = inspect.signature(self.get(name)).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return sorted(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    def create(self, name: str, **options: Any) -> T:
        """Build ``name`` with ``options``; one it does not take is an error naming the valid ones."""
        valid = self.options(name)
        unknown = sorted(set(options) - set(valid)) if valid is not None else []
        if unknown:
            raise UnknownNameError(
                f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                f"{self.kind} {name!r}; valid: {', '.join(valid) or '(none)'}")
        return self.get(name)(**options)

    def create_from(self, name: str, offered: Mapping[str, Any], **options: Any) -> T:
        """Build ``name`` with ``options`` plus the ``offered`` values its factory takes.

        For settings that concern some implementations only (e.g. ``query_runtime``): the
        factory's signature says which it uses; explicit ``options`` stay strict.
        """
        valid = self.options(name)
        taken = {k: v for k, v in offered.items() if valid is None or k in valid}
        return self.create(name, **{**taken, **options})
