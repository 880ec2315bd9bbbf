"""The stored sketches keep every percentile within 1% of the raw samples, merged over minutes and replicas."""

from __future__ import annotations

import random

import pytest

from observability.sketch import (
    sketch_count_at_most,
    sketch_from_values,
    sketch_merge_json,
    sketch_quantile,
    sketch_to_json,
)


def exact_quantile(values: list[float], q: float) -> float:
    """The lower q-quantile, DDSketch's definition: the value of rank floor(q * (n - 1))."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_merged_over_minutes_and_replicas_are_within_one_percent(seed):
    rng = random.Random(seed)
    stored, raw = [], []
    for minute in range(60):
        for replica in range(3):
            # Each replica-minute has its own shape: a slow replica, a queueing spike in some minutes.
            scale = 0.2 * (1 + replica) * (5 if minute % 17 == 0 else 1)
            values = [rng.lognormvariate(0, 0.6) * scale for _ in range(rng.randint(50, 400))]
            raw.extend(values)
            stored.append(sketch_to_json(sketch_from_values((v, 1.0) for v in values)))
    merged = sketch_merge_json(stored)
    assert merged.count == len(raw)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        expected = exact_quantile(raw, q)
        assert abs(sketch_quantile(merged, q) - expected) <= 0.01 * expected, q


def test_count_within_a_target_is_bounded_by_the_values_one_percent_either_side():
    rng = random.Random(7)
    raw = [rng.expovariate(4) for _ in range(20_000)]
    sketch = sketch_from_values((v, 1.0) for v in raw)
    for target in (0.05, 0.2, 0.35, 1.0):
        counted = sketch_count_at_most(sketch, target)
        assert sum(v <= target * 0.99 for v in raw) <= counted <= sum(v <= target * 1.01 for v in raw)


def test_weighted_draws_count_as_many_requests():
    sketch = sketch_from_values([(0.1, 2.5), (0.3, 2.5)])
    assert sketch.count == 5.0 and sketch_count_at_most(sketch, 0.2) == 2.5
    assert sketch_merge_json([None, {}, sketch_to_json(sketch)]).count == 5.0


def test_bins_answer_exactly_as_merged_ddsketches():
    import random

    from observability.sketch import Bins, sketch_from_values, sketch_merge_json, sketch_to_json

    rng = random.Random(7)
    stored = [
        sketch_to_json(sketch_from_values((rng.lognormvariate(-2, 1), rng.choice((1, 2.5))) for _ in range(300)))
        for _ in range(12)
    ]
    stored.append(sketch_to_json(sketch_from_values([(0.0, 3), (0.5, 1)])))  # zeros count too
    qs = (0.99, 0.0, 0.5, 0.9, 0.95, 1.0, 0.01)
    for chunk in (stored[:1], stored[:5], stored):
        bins = Bins()
        for data in chunk:
            bins.add_json(data)
        merged = sketch_merge_json(chunk)
        assert bins.quantiles(qs) == [merged.get_quantile_value(q) for q in qs]
    assert Bins().quantiles((0.5,)) == [None]
