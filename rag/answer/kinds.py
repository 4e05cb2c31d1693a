"""What a question asks for: a year, a number, a person, a reason, or a view / a view.

``answer_type`` names the kind of fact ("year", "number", "person"); ``has_type`` says whether
a sentence holds one the question does not already name. ``asks_for_view`` is true for the
questions answered by several sentences: "why …", "how does X see …", "what does X think /
say / argue …", "what did X say / tell / write …" (not "how many / much / long …").
"""
from __future__ import annotations

import re

_TYPES = [
    ("year", re.compile(r"\b(what|which) year\b|\bwhen\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|long|old|far)\b|\bwhat (number|percentage|share|price|amount)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b|\bwhich [\w ]{0,30}?(secretary|envoy|scientist|minister|"
                          r"president|leader|author|official|general|adviser|advisor|historian|journalist)\b", re.I)),
]
_NAME = re.compile(r"\b[A-Z][a-z’']+(?:\s+(?:[A-Z]\.\s*)*[A-Z][a-z’']+)*")
# capitalised words that are not (parts of) a person's name
_NOT_NAME = re.compile(r"^(?:[A-Z][a-z]*(?:an|ian|ese|ish|ic|i)|Soviet|Special|Envoy|President|Presidential|"
                       r"Secretary|Minister|General|Chief|Direct|Investment|Fund|Institute|Ministry|Council|"
                       r"Bank|Party|University|College|Agency|Office|Review|Times|News|Union|State|States|"
                       r"House|Congress|Kremlin|Washington|Moscow|Europe|America|Russia|Ukraine|China|"
                       r"Middle|East|West|North|South|Cold|War|The|In|On|At|As|For|But|And|If|This|That|"
                       r"These|Those|It|He|She|They|We|I|His|Her|Their|Our|Its|January|February|March|April|May|June|July|"
                       r"August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|"
                       r"Saturday|Sunday)$")
_VIEW = re.compile(r"^\s*why\b|\bhow (?:do|does|did|is|are|was|were|has|have|had)\b|"
                   r"\bwhat (?:do|does|did|is|was)\b.*\b(?:think|say|said|tell|told|write|wrote|argue|argued|"
                   r"believe|mean|see|view|claim|suggest|conclude|make of|opinion)\w*\b|"
                   r"\b(?:view|opinion|argument|verdict|take) (?:of|on)\b", re.I)
_REASON = re.compile(r"\b(?:because|since|due to|as a result|so that|which is why|the reason|thanks to)\b", re.I)
_HOW_MUCH = re.compile(r"\bhow (?:many|much|long|old|far|large|big|often)\b", re.I)


def answer_type(question: str) -> str | None:
    """The kind of thing the question asks for: year, number, person, reason ("why …"), or None."""
    kind = next((name for name, rx in _TYPES if rx.search(question)), None)
    return kind or ("reason" if re.match(r"\s*why\b", question, re.I) else None)


def asks_for_view(question: str) -> bool:
    """Whether the question asks for an explanation or someone's view (answered by 2-3 sentences)."""
    return bool(_VIEW.search(question)) and not _HOW_MUCH.search(question) \
        and answer_type(question) in (None, "reason")


def new_names(sentence: str, question: str) -> list[str]:
    """Person-like names in ``sentence`` with a word the question does not contain."""
    asked = {_base(w) for w in re.findall(r"[\w’']+", question)}
    out = []
    for m in _NAME.finditer(sentence):
        name = m.group()
        if " " not in name and not sentence[:m.start()].strip(" “‘\"'("):
            continue  # a single capitalised word opening the sentence
        words = [w for w in name.replace(".", " ").split() if len(w) > 1]
        fresh = [w for w in words if _base(w) not in asked and not _NOT_NAME.match(w)]
        if fresh:
            out.append(name)
    return out


_HOLDER = re.compile(r"\baccording to ((?:[A-Z][\w.’'-]*\s?)+)|\b(?:does|did|do|has|have|is|was) "
                     r"((?:[A-Z][\w.’'-]*\s?)+)(?=\s*(?:think|say|see|view|argue|believe|write|describe|claim|"
                     r"suggest|conclude|mean|make|tell|call|explain))")


def view_holder(question: str) -> list[str]:
    """The words naming whose view is asked: "what does Zubok think…", "…according to Lee Fang"."""
    return [w for m in _HOLDER.finditer(question) for w in (m.group(1) or m.group(2)).split()]


def may_name_person(word: str) -> bool:
    """False for capitalised words that are titles, nationalities, places, months or pronouns."""
    return not _NOT_NAME.match(word)


def _base(word: str) -> str:
    return re.sub(r"[’']s?$", "", word.lower())


def has_type(sentence: str, kind: str | None, question: str) -> bool:
    """Whether ``sentence`` holds something of ``kind`` that the question does not already name."""
    if kind == "year":
        return re.search(r"\b(1[5-9]|20)\d\d\b", sentence) is not None
    if kind == "number":
        return any(n not in question for n in re.findall(r"\d[\d,.]*", sentence))
    if kind == "reason":
        return _REASON.search(sentence) is not None
    if kind == "person":  # a name new to the question (not a title, nationality or place)
        return bool(new_names(sentence, question))
    return False
