"""The index as a role: ``open_store(settings)`` gives the backend named by ``Settings.store``.

``"local"`` (default): the folder ``Settings.index_dir`` (rag/store/local.py).
``"postgresql://…"``: PostgreSQL + pgvector (rag/store/postgres.py).
"""
from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import (FORMAT_VERSION, REBUILD_HINT, STORES, DocPassages, Store, check_manifest,  # noqa: F401
                   hits, hybrid_top, matches, parse_date, settings_part, store_label, top)

# backend name -> module that registers it (imported on first use, so optional drivers stay optional)
BACKEND_MODULES = {"local": "rag.store.local", "postgres": "rag.store.postgres"}
URL_SCHEMES = {"postgresql": "postgres", "postgres": "postgres"}


def backend_name(location: str) -> str:
    """The backend for a ``Settings.store`` value: ``local`` or a URL's scheme's backend."""
    location = (location or "local").strip()
    if location in BACKEND_MODULES:
        return location
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if scheme in URL_SCHEMES:
        return URL_SCHEMES[scheme]
    raise UnknownNameError(
        f"unknown store {store_label(location)!r}; valid: local, or a postgresql://… URL")


def open_store(settings, **options) -> Store:
    """Open the store ``settings.store`` names (it need not hold an index yet).

    ``options`` go to the backend's factory; unknown ones are errors listing the valid ones.
    """
    name = backend_name(settings.store)
    if name not in STORES.names():
        try:
            importlib.import_module(BACKEND_MODULES[name])
        except ImportError as exc:
            raise UnknownNameError(f"the {name} store backend is not available here ({exc})") from None
    return STORES.create(name, settings=settings, **options)
