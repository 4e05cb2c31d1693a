"""Score a question file (the format of tests/dev.jsonl) against an Assistant.

Each line: ``question``, ``answers`` (any one counts), ``evidence`` (a substring of the
article that holds the answer), ``source`` (part of that article's title), ``answerable``.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RagError
from .types import Answer, Hit


@dataclass
class EvalReport:
    questions: int = 0
    answerable: int = 0
    hit_at_k: float = 0.0  # share of answerable questions whose evidence is in the top k passages
    mrr: float = 0.0
    answer_accuracy: float = 0.0  # share of answerable questions answered with an accepted string
    refusal_accuracy: float = 0.0  # share of unanswerable questions answered "the articles do not say"
    false_refusals: int = 0
    k: int = 5
    rows: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.questions} questions ({self.answerable} answerable), k={self.k}\n"
                f"retrieval hit@{self.k}: {self.hit_at_k:.3f}   MRR: {self.mrr:.3f}\n"
                f"answer accuracy: {self.answer_accuracy:.3f}   refusal accuracy: {self.refusal_accuracy:.3f}"
                f"   false refusals: {self.false_refusals}")

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class QuestionFileError(RagError, ValueError):
    """A question file that cannot be scored: unreadable line, missing field, or no questions."""


def load_questions(path: str | Path) -> list[dict]:
    """The rows of a question file; a bad line raises ``QuestionFileError`` naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise QuestionFileError(f"{path}: not UTF-8 text (one JSON object per line, like tests/dev.jsonl)") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise QuestionFileError(f"{path}:{n}: not a JSON object ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise QuestionFileError(f"{path}:{n}: expected a JSON object with a \"question\" string")
        answers = row.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise QuestionFileError(f"{path}:{n}: \"answers\" must be a list of strings")
        rows.append(row)
    if not rows:
        raise QuestionFileError(f"{path}: no questions (one JSON object per line, like tests/dev.jsonl)")
    return rows


def norm(text: str) -> str:
    """Lower-case, unify quotes and white space, for lenient string matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("—", "-"), ("–", "-")):
        text = text.replace(a, b)
    return " ".join(text.split())


def evidence_rank(hits: list[Hit], evidence: str, source: str | None = None) -> int | None:
    """1-based rank of the first hit that contains the evidence (and is from ``source``)."""
    ev = norm(evidence)
    for h in hits:
        if ev in norm(h.chunk.text) and (not source or norm(source) in norm(h.chunk.title)):
            return h.rank or hits.index(h) + 1
    return None


def is_correct(answer: Answer, accepted: list[str]) -> bool:
    text = norm(answer.text)
    return answer.answered and any(norm(a) in text for a in accepted)


def evaluate(assistant, questions: list[dict], k: int = 5, mode: str | None = None,
             answerer: str | None = None) -> EvalReport:
    rep = EvalReport(questions=len(questions), k=k)
    hits_found, rr, correct, refused_ok, unanswerable = 0, 0.0, 0, 0, 0
    for q in questions:
        ans = assistant.ask(q["question"], k=k, mode=mode, answerer=answerer)
        row = {"id": q.get("id"), "question": q["question"], "answer": ans.text, "answered": ans.answered}
        if q.get("answerable", True):
            rep.answerable += 1
            rank = evidence_rank(ans.hits, q["evidence"], q.get("source")) if q.get("evidence") else None
            hits_found += rank is not None
            rr += 1 / rank if rank else 0.0
            ok = is_correct(ans, q.get("answers", []))
            correct += ok
            rep.false_refusals += not ans.answered
            row.update(evidence_rank=rank, correct=ok)
        else:
            unanswerable += 1
            refused_ok += not ans.answered
            row.update(correct=not ans.answered)
        rep.rows.append(row)
    if rep.answerable:
        rep.hit_at_k, rep.mrr = hits_found / rep.answerable, rr / rep.answerable
        rep.answer_accuracy = correct / rep.answerable
    rep.refusal_accuracy = refused_ok / unanswerable if unanswerable else 1.0
    return rep
