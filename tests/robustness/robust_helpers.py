"""Runners shared by the robustness battery: the ``rag`` command in-process on the fake backend,
the command in a subprocess (``fake_rag.py``), root-only mounts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from helpers import ROOT
from rag.cli import main

HERE = Path(__file__).resolve().parent
TANKS = "How many tanks did Russia produce in 2024?"
PENGUINS = "# Penguin census\n\nThe island's penguin census counted 4,321 birds this spring.\n"


class Rag:
    """``rag --backend fake --seeds SEEDS --index INDEX ARGS...`` in-process (click's CliRunner)."""

    def __init__(self, seeds: Path, index: Path) -> None:
        self.seeds, self.index = seeds, index
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict | None = None, opts: bool = True) -> Result:
        pre = ["--backend", "fake", "--seeds", str(self.seeds), "--index", str(self.index)] if opts else []
        return self.runner.invoke(main, [*pre, *args], env=env)

    def answers(self) -> None:
        """The index answers the tanks question from its article (exit 0)."""
        out = self("ask", TANKS)
        assert out.exit_code == 0, out.output
        assert "1,500 tanks" in out.stdout and "Traceback" not in out.output


def rag_process(*args: str, timeout: float = 120, env: dict | None = None,
                popen: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """``rag ARGS`` in a real subprocess, with the "fake" backend registered (fake_rag.py)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           **(env or {})}
    cmd = [sys.executable, str(HERE / "fake_rag.py"), *args]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def mount(*args: str) -> None:
    """``mount ARGS`` as root, or skip the test saying why."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} failed: {done.stderr.strip()}")
