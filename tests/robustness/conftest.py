"""Fixtures of the robustness battery (runners and checks: robust_helpers.py, robust_checks.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from robust_helpers import PENGUINS, Rag


@pytest.fixture
def rag(fake_backend, seeds, tmp_path) -> Rag:
    """The command over a copy of the shipped digest (not yet indexed)."""
    return Rag(seeds, tmp_path / "index")


@pytest.fixture
def built(rag) -> Rag:
    """The command over a good index of the digest (6 articles) plus a penguin note: two segments."""
    assert rag("index").exit_code == 0
    (rag.seeds / "penguins.md").write_text(PENGUINS, encoding="utf-8")
    out = rag("index")
    assert out.exit_code == 0 and "added: Penguin census" in out.stdout, out.output
    return rag


@pytest.fixture
def mounts():
    """Mount points to unmount at teardown (most recent first)."""
    points: list[Path] = []
    yield points
    for p in reversed(points):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)
