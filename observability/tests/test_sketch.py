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


@pytest.mark.parametrize("seed", [4, 5])
def test_the_stored_merge_and_ddsketchs_merge_agree_within_one_percent(seed):
    """`merged_sketch` (bins added as counts: collection's deployment rows, compaction's hourly rows) and `ddsketch`'s
    own merge of the same stored sketches: the same document and quantiles, both within 1% of the raw samples."""
    from observability.sketch import STORED_QUANTILES, merged_sketch, sketch_from_json

    rng = random.Random(seed)
    stored, raw = [None, {}], []
    for minute in range(60):
        scale = 0.3 * (4 if minute % 13 == 0 else 1)
        draws = [(rng.lognormvariate(0, 0.7) * scale, rng.choice((1.0, 0.4, 2.5))) for _ in range(rng.randint(20, 200))]
        raw.extend(v for v, w in draws if w == 1.0)
        stored.append(sketch_to_json(sketch_from_values(draws)))
    document, quantiles = merged_sketch(stored)
    reference = sketch_merge_json(stored)
    assert sketch_from_json(document).count == pytest.approx(reference.count)
    assert document["s"] == pytest.approx(reference.sum) and document["z"] == reference._zero_count
    assert (document["lo"], document["hi"]) == (reference._min, reference._max)
    assert {int(k): v for k, v in document["b"].items()} == pytest.approx(
        {int(k): v for k, v in sketch_to_json(reference)["b"].items()}
    )
    for q, value in zip(STORED_QUANTILES, quantiles, strict=True):
        expected = sketch_quantile(reference, q)
        assert abs(value - expected) <= 0.01 * expected, q
        assert value == expected  # the same bins and rank rule: the very same answer
    unweighted = merged_sketch([sketch_to_json(sketch_from_values((v, 1.0) for v in raw))])[1]
    for q, value in zip(STORED_QUANTILES, unweighted, strict=True):
        assert abs(value - exact_quantile(raw, q)) <= 0.01 * exact_quantile(raw, q), q
