"""Assertions shared by the robustness battery: what a user sees when something is refused."""
from __future__ import annotations

from click.testing import Result

from rag.errors import RagError


def one_line_error(result: Result, *needles: str, code: int = 1) -> str:
    """Exit ``code``, nothing on stdout, one ``error: ...`` line on stderr holding every needle."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped the command
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def usage_error(result: Result, *needles: str) -> str:
    """click's usage error: exit 2, no traceback, the last line ``Error: ...`` holding every needle."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    for n in needles:
        assert n in last, (n, last)
    return last


def rag_error(exc: BaseException, *needles: str) -> str:
    """A RagError (the API's errors) whose message is one line holding every needle."""
    assert isinstance(exc, RagError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and "\n" not in text, text
    for n in needles:
        assert n in text, (n, text)
    return text


def process_error(proc, *needles: str, code: int = 1) -> str:
    """A subprocess that failed with one ``error: ...`` line (its only stderr line) and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert lines and lines[-1].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[-1], (n, lines[-1])
    return lines[-1]
