"""Seeded samples that keep every stratum (a BOLD group, a HolisticBias bucket).

`stratified_sample` keeps `n` of the items: one from every stratum first (when `n` allows),
then the rest shared out in proportion to what each stratum has left (largest remainders,
ties to the earlier stratum), each stratum's items drawn with one seeded generator. The same
input, `n` and seed give the same sample on every machine; the items keep their order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["stratified_sample"]


def stratified_sample(strata: Sequence[int], n: int, seed: int) -> list[int]:
    """Indices (into the concatenation of the strata, in order) of a sample of `n` items,
    where `strata` gives each stratum's size. Fewer strata than `n` allows: a seeded
    choice of `n` strata keep one item each."""
    total = sum(strata)
    if n >= total:
        return list(range(total))
    rng = random.Random(seed)
    counts = _allocation(strata, n, rng)
    kept: list[int] = []
    start = 0
    for size, count in zip(strata, counts, strict=True):
        kept += sorted(start + i for i in rng.sample(range(size), count))
        start += size
    return kept


def _allocation(strata: Sequence[int], n: int, rng: random.Random) -> list[int]:
    filled = [i for i, size in enumerate(strata) if size > 0]
    counts = [0] * len(strata)
    if n < len(filled):
        for i in rng.sample(filled, n):
            counts[i] = 1
        return counts
    for i in filled:
        counts[i] = 1
    spare = [size - 1 if size > 0 else 0 for size in strata]
    rest, room = n - len(filled), sum(spare)
    if rest == 0 or room == 0:
        return counts
    # Exact shares rest * spare / room, as whole parts and remainders (no float rounding).
    floors = [rest * s // room for s in spare]
    remainders = [rest * s % room for s in spare]
    left = rest - sum(floors)
    # Largest remainders first; a share never exceeds its room, so neither does floor + 1.
    order = sorted(range(len(strata)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [c + f for c, f in zip(counts, floors, strict=True)]
