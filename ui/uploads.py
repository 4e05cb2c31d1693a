"""Files uploaded on the page: what the upload handler gets from Gradio, and their removal.

The handler runs without Gradio's preprocessing (``preprocess=False``), so it gets each file
as a FileData dict holding the temp ``path`` (checked by Gradio to be in its upload folder)
and the name the file had on the user's machine (``orig_name``), and Gradio leaves no empty
temp file per upload behind. Each temp file is removed as soon as it has been read
(``discard``), refused or not; the app's ``delete_cache`` sweeps anything left over.
"""
from __future__ import annotations

import logging
import unicodedata
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

log = logging.getLogger(__name__)

UPLOAD_CACHE = (600, 3600)  # gr.Blocks(delete_cache=...): every 10 min, remove uploads older than 1 h
MAX_SHOWN = 60  # characters of a file name shown in a message


def uploaded(files: Any) -> list[tuple[Path, str]]:
    """(temp path, name as uploaded) for each file in the File component's raw value."""
    items = files if isinstance(files, list) else [files] if files else []
    out = []
    for item in items:
        if isinstance(item, dict):
            path = Path(item["path"])
            out.append((path, item.get("orig_name") or path.name))
        else:  # a plain path (str or NamedString)
            out.append((Path(str(item)), Path(str(item)).name))
    return out


def shown_name(name: str) -> str:
    """``name`` fit for a one-line message: control characters as \\xNN, long names shortened."""
    text = "".join(c if unicodedata.category(c)[0] != "C" else f"\\x{ord(c):02x}" for c in name)
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN // 2 - 1]}…{text[-(MAX_SHOWN // 2 - 1):]} ({len(name)} characters)"
    return text


def label(original: str, stored: str) -> str:
    """How the page names an upload: as uploaded, and what it was stored as when that differs."""
    if original == stored:
        return stored
    return f"{shown_name(original)} (saved as {shown_name(stored)})"


def discard(path: Path) -> None:
    """Remove an upload's temp file, and its folder when that is left empty; never anything outside
    Gradio's upload folder."""
    root = Path(get_upload_folder()).resolve()
    try:
        target = path.resolve()
        if root not in target.parents:
            log.warning("not removing %s: outside the upload folder %s", path, root)
            return
        target.unlink(missing_ok=True)
        if target.parent != root:
            target.parent.rmdir()  # the per-upload folder; fails (kept) if it holds other files
    except OSError:
        pass
