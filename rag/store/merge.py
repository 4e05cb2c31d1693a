"""When segments are merged (compaction): a tiered policy, so each passage is rewritten
about log_factor(N) times over its life and one change never rewrites the collection.

Segments are grouped in tiers by their live passages (tier t holds sizes in
``[factor**t, factor**(t+1))``). As soon as a tier holds ``factor`` segments they are merged
into one (of the next tier, usually). A segment with more than ``MAX_DELETED`` of its rows
tombstoned is rewritten without them. The store merges in the same process right after an
``apply`` has been committed, each merge being a generation of its own; readers keep the
generation they opened until they refresh.
"""
from __future__ import annotations

MAX_DELETED = 0.3


def live(meta: dict) -> int:
    return meta["passages"] - meta["deleted_passages"]


def tier_of(size: int, factor: int) -> int:
    tier = 0
    while size >= factor ** (tier + 1):
        tier += 1
    return tier


def plan(segments: list[dict], factor: int) -> list[str] | None:
    """Names of the segments to merge next, or None when the segments are in shape."""
    if factor < 2 or not segments:
        return None
    for meta in segments:
        if meta["passages"] and meta["deleted_passages"] > MAX_DELETED * meta["passages"]:
            small = [m for m in segments if m is not meta and live(m) <= max(live(meta), 1)]
            small.sort(key=live)
            return [meta["name"]] + [m["name"] for m in small[:factor - 1]]
    tiers: dict[int, list[dict]] = {}
    for meta in segments:
        tiers.setdefault(tier_of(live(meta), factor), []).append(meta)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= factor:
            return [m["name"] for m in tiers[tier]]
    return None
