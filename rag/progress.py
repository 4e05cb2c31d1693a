"""Progress of long jobs (index builds): labelled stages with counts, to a terminal bar or a callback.

A job reports ``(done, total, stage)``: e.g. ``(0, 11804, "loading the model")`` and then
``(1234, 11804, "embedding passages")``. ``progress`` is False (silent), True (tqdm bars on
stderr: "embedding passages 1,234 / 11,804 [00:12<01:50, 97.1 passages/s]") or a callable
``on_progress(done, total, stage)``, e.g. the page's upload panel.
"""
from __future__ import annotations

from typing import Callable, Union

OnProgress = Callable[[int, int, str], None]
Progress = Union[bool, OnProgress, None]

BAR_FORMAT = "{desc} {n:,} / {total:,} [{elapsed}<{remaining}, {rate_fmt}]"


class Reporter:
    """Sends stage updates to a callback and/or tqdm bars (one bar per stage)."""

    def __init__(self, progress: Progress = False, unit: str = "passages") -> None:
        self.callback: OnProgress | None = progress if callable(progress) else None
        self.bars = progress is True
        self.unit = unit
        self._bar = None
        self._stage: str | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if self.callback is not None:
            self.callback(done, total, stage)
        if self.bars:
            self._show(done, total, stage)

    def _show(self, done: int, total: int, stage: str) -> None:
        from tqdm.auto import tqdm

        if stage != self._stage:
            self.close()
            self._stage = stage
            counted = stage.startswith("embedding")
            self._bar = tqdm(total=total, desc=stage, unit=f" {self.unit}" if counted else "",
                             bar_format=BAR_FORMAT if counted else "{desc} ...", leave=counted)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None


def reporter(progress: Progress) -> Reporter:
    """A ``Reporter`` for ``progress`` (False/None: one that does nothing)."""
    return progress if isinstance(progress, Reporter) else Reporter(progress)
