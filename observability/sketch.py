"""Latency distributions as DDSketches (1% relative accuracy), stored as JSON and merged across minutes and replicas.

The `ddsketch` package does the sketching; this module only moves a sketch to and from a JSON column (sparse bins:
{"b": {key: count}}) and answers the two questions the SLO code asks: a quantile, and how many values were at most
a target.
"""

from __future__ import annotations

from collections.abc import Iterable

from ddsketch import DDSketch

RELATIVE_ACCURACY = 0.01


def sketch_new() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


def sketch_from_values(values: Iterable[tuple[float, float]]) -> DDSketch:
    """A sketch of weighted values (value, weight)."""
    sketch = sketch_new()
    for value, weight in values:
        sketch.add(value, weight)
    return sketch


def sketch_to_json(sketch: DDSketch) -> dict:
    store = sketch._store
    bins = {str(store.offset + i): c for i, c in enumerate(store.bins) if c}
    return {
        "b": bins,
        "n": sketch.count,
        "s": sketch.sum,
        "z": sketch._zero_count,
        "lo": sketch._min if sketch.count else None,
        "hi": sketch._max if sketch.count else None,
    }


def sketch_from_json(data: dict | None) -> DDSketch:
    sketch = sketch_new()
    if not data or not data.get("n"):
        return sketch
    for key, count in data["b"].items():
        sketch._store.add(int(key), count)
    sketch._zero_count = data.get("z", 0.0)
    sketch._count = data["n"]
    sketch._sum = data["s"]
    sketch._min, sketch._max = data["lo"], data["hi"]
    return sketch


def sketch_merge_json(items: Iterable[dict | None]) -> DDSketch:
    """One sketch of every stored sketch given (minutes, replicas, components)."""
    merged = sketch_new()
    for data in items:
        if data and data.get("n"):
            merged.merge(sketch_from_json(data))
    return merged


def sketch_quantile(sketch: DDSketch, q: float) -> float | None:
    return sketch.get_quantile_value(q) if sketch.count else None


# The quantiles each stored row also keeps in plain columns (`<name>_p50` ...): the API's (0.5, 0.9, 0.99), the
# console's and the rules' 0.95. Read from the row's own sketch, so they are what a merge of that one row answers.
STORED_QUANTILES = (0.5, 0.9, 0.95, 0.99)


def quantile_column(name: str, q: float) -> str:
    return f"{name}_p{round(q * 100)}"


def stored_quantiles(name: str, sketch: DDSketch) -> dict[str, float | None]:
    """{"<name>_p50": value, ...} of one sketch, for the row that stores it (None each when it is empty)."""
    return {quantile_column(name, q): sketch_quantile(sketch, q) for q in STORED_QUANTILES}


def sketch_count_at_most(sketch: DDSketch, value: float) -> float:
    """How many values were <= `value`, to the sketch's bound (a value within 1% of the target may land either side)."""
    if not sketch.count:
        return 0.0
    if value <= 0:
        return sketch._zero_count
    # A bin counts when its representative value (within 1% of all its values) is within the target.
    limit = sketch._mapping.key(value)
    if sketch._mapping.value(limit) > value:
        limit -= 1
    store = sketch._store
    counted = sketch._zero_count
    for i, count in enumerate(store.bins):
        if store.offset + i > limit:
            break
        counted += count
    return counted


_MAPPING = sketch_new()._mapping
_BIN_VALUES: dict[int, float] = {}


def bin_value(key: int) -> float:
    """The value a bin of key `key` stands for (what a quantile falling in it answers), remembered per key."""
    value = _BIN_VALUES.get(key)
    if value is None:
        value = _BIN_VALUES[key] = _MAPPING.value(key)
    return value


class Bins:
    """Stored sketches merged as plain counts per bin (no DDSketch objects built): what a range query needs to take
    a few quantiles of each step, at a fraction of the cost. Answers exactly as `sketch_merge_json` + `sketch_quantile`
    (same bins, same rank rule)."""

    __slots__ = ("count", "counts", "zero")

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self.zero = 0.0
        self.count = 0.0

    def add_json(self, data: dict | None) -> None:
        if not data or not data.get("n"):
            return
        counts = self.counts
        for key, value in data["b"].items():
            counts[key] = counts.get(key, 0.0) + value
        self.zero += data.get("z", 0.0)
        self.count += data["n"]

    def quantiles(self, qs: tuple[float, ...]) -> list[float | None]:
        """The values at the quantiles `qs` (ascending or not), None for an empty merge."""
        if not self.count:
            return [None] * len(qs)
        ordered = sorted((int(key), value) for key, value in self.counts.items())
        answers: dict[float, float] = {}
        pending = sorted(qs)
        running, index = self.zero, 0
        for q in pending:
            rank = q * (self.count - 1)
            if rank < self.zero:
                answers[q] = 0.0
                continue
            while index < len(ordered) and running + ordered[index][1] <= rank:
                running += ordered[index][1]
                index += 1
            key = ordered[min(index, len(ordered) - 1)][0] if ordered else 0
            answers[q] = bin_value(key)
        return [answers[q] for q in qs]


def merged_sketch(items: Iterable[dict | None]) -> tuple[dict | None, list[float | None]]:
    """The stored sketches given merged into one (same JSON shape) and its quantiles at STORED_QUANTILES, taken as
    the range query takes them from a merge (`Bins`), so a stored column answers what merging per point answered.
    The one merge of stored sketches: collection's deployment rows and compaction's hourly rows both use it (the same
    bins and answers as `ddsketch`'s merge, `sketch_merge_json`, which tests keep as the reference)."""
    bins, total, lows, highs = Bins(), 0.0, [], []
    for data in items:
        if not data or not data.get("n"):
            continue
        bins.add_json(data)
        total += data.get("s", 0.0)
        lows.append(data.get("lo"))
        highs.append(data.get("hi"))
    if not bins.count:
        return None, [None] * len(STORED_QUANTILES)
    merged = {
        "b": bins.counts,
        "n": bins.count,
        "s": total,
        "z": bins.zero,
        "lo": _extreme(min, lows),
        "hi": _extreme(max, highs),
    }
    return merged, bins.quantiles(STORED_QUANTILES)


def _extreme(pick, values: list) -> float | None:
    known = [v for v in values if v is not None]
    return pick(known) if known else None
