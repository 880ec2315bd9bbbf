import pytest

from autoscaling.coldstart import StartModel, cold_start
from autoscaling.policy import Policy, parse_range, policy_errors, policy_from
from autoscaling.queue import QueueSettings, RequestQueue, weighted_quantile


def test_policy_errors_name_each_field():
    errors = policy_errors(
        {"min_replicas": 5, "max_replicas": 2, "signal": "vibes", "target": -1, "idle_timeout_s": 5, "colour": 1},
        max_replicas=1000,
        prefix="components.llm.",
    )
    assert set(errors) == {
        "components.llm.min_replicas",
        "components.llm.signal",
        "components.llm.target",
        "components.llm.idle_timeout_s",
        "components.llm.colour",
    }
    assert policy_errors({"min_replicas": 0, "max_replicas": 3}, max_replicas=1000) == {}
    assert "target" in policy_errors({"signal": "gpu_utilisation", "target": 70}, max_replicas=1000)


def test_policy_from_fills_a_signal_default_target_but_not_an_slo_one():
    assert policy_from({"signal": "gpu_utilisation"}).target == 0.7
    assert policy_from({"signal": "slo_ttft"}).target is None
    base = Policy(min_replicas=1, max_replicas=4)
    assert policy_from({"max_replicas": 6}, base=base).min_replicas == 1


def test_the_cli_range():
    assert parse_range("llm=1:4", max_replicas=1000) == ("llm", 1, 4)
    assert parse_range("llm=0:2", max_replicas=1000) == ("llm", 0, 2)
    for bad in ("llm", "llm=4:1", "llm=a:b", "=1:2"):
        with pytest.raises(ValueError):
            parse_range(bad, max_replicas=1000)


def test_a_pool_makes_the_cold_start_shorter():
    model = StartModel.of({"storage_gbps": 2.0, "bogus": 1, "engine_warmup_s": -3})
    assert model.storage_gbps == 2.0 and model.engine_warmup_s == 25.0
    cold = cold_start(model, model_gb=16, image_cached=False, pooled=False)
    cached = cold_start(model, model_gb=16, image_cached=True, pooled=False)
    pooled = cold_start(model, model_gb=16, image_cached=False, pooled=True)
    assert cold.total_s == 50 + 8 + 25
    assert pooled.total_s < cached.total_s < cold.total_s
    assert pooled.total_s == 16 / 5 + 2


def test_a_full_queue_rejects_and_counts_and_priority_goes_first():
    queue = RequestQueue(QueueSettings(max_length=10, timeout_s=5))
    assert queue.offer(now=0, count=8, priority=2) == 0
    assert queue.offer(now=1, count=5, priority=1) == 3  # only 2 fit
    assert queue.stats.rejected_full == 3
    assert queue.serve(now=2, capacity=3) == 3
    assert queue.stats.waits[0] == (1, 2)  # the priority-1 requests first, having waited 1 s
    assert queue.expire(now=5) == 0
    assert queue.expire(now=5.5) == 7  # the rest arrived at 0 and waited more than 5 s
    assert queue.stats.rejected == 10 and queue.length == 0
    assert weighted_quantile([(1, 1), (10, 1)], 0.99) == 10
