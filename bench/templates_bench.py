"""Benchmark of issue 6: resolution time per system template, and seed_templates first vs unchanged second sync.

    python bench/templates_bench.py            # 1,000 resolutions per template, 5 seed rounds
    python bench/templates_bench.py --quick    # 100 resolutions, 2 seed rounds (< 1 min)
    python bench/templates_bench.py --write    # also replace the section in BENCHMARKS.md

Runs on a throwaway SQLite database (or DATABASE_URL when --use-env-db is given).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADING = "## Component registry and templates (issue 6)"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def setup_django(use_env_db: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    if not use_env_db:
        scratch = Path(tempfile.mkdtemp(prefix="templates-bench-"))
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def required_parameters(template) -> dict:
    """`model_id` and a valid value for every other required parameter without a default (the agents' secrets)."""
    params = {"model_id": MODEL}
    for parameter in template.parameters:
        if parameter.get("required") and "default" not in parameter and parameter["name"] not in params:
            params[parameter["name"]] = "bench-value-0123456789"
    return params


def bench_resolve(runs: int) -> list[dict]:
    from components.selectors import component_definitions_by_ref
    from templates_app.models import UseCaseTemplate
    from templates_app.resolver import resolve

    defs = component_definitions_by_ref()
    rows = []
    for template in UseCaseTemplate.objects.filter(is_system=True).order_by("category", "slug"):
        params = required_parameters(template)
        for _ in range(20):  # warm the expression cache, as a running server has
            resolve(template, params, component_defs=defs)
        pure, pure_cpu, with_db = [], [], []
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.thread_time()
            resolve(template, params, component_defs=defs)
            pure_cpu.append((time.thread_time() - start_cpu) * 1000)
            pure.append((time.perf_counter() - start) * 1000)
        for _ in range(runs):
            start = time.perf_counter()
            resolve(template, params)
            with_db.append((time.perf_counter() - start) * 1000)
        rows.append(
            {
                "slug": template.slug,
                "components": len(template.components),
                "pure_median": statistics.median(pure),
                "pure_p99": percentile(pure, 99),
                "pure_cpu_p99": percentile(pure_cpu, 99),
                "db_median": statistics.median(with_db),
                "db_p99": percentile(with_db, 99),
            }
        )
    return rows


def bench_seed(rounds: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from components.models import ComponentDefinition
    from templates_app.models import UseCaseTemplate
    from templates_app.seeding import seed_templates

    def writes(queries) -> int:
        return sum(1 for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.I))

    first, second, first_writes, second_writes, second_queries = [], [], [], [], []
    for _ in range(rounds):
        UseCaseTemplate.objects.all().delete()
        ComponentDefinition.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            result = seed_templates()
            first.append((time.perf_counter() - start) * 1000)
        assert not result.errors, result.errors
        first_writes.append(writes(queries))
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            seed_templates()
            second.append((time.perf_counter() - start) * 1000)
        second_writes.append(writes(queries))
        second_queries.append(len(queries))
    return {
        "rounds": rounds,
        "components": ComponentDefinition.objects.count(),
        "templates": UseCaseTemplate.objects.count(),
        "first_median": statistics.median(first),
        "second_median": statistics.median(second),
        "first_writes": max(first_writes),
        "second_writes": max(second_writes),
        "second_queries": max(second_queries),
    }


def report(resolve_rows: list[dict], seed: dict, runs: int, command: str, vendor: str, load: tuple) -> str:
    lines = [
        HEADING,
        "",
        f"Measured {datetime.date.today().isoformat()} with `{command}` ({vendor}, Python {sys.version.split()[0]}; "
        f"load average {load[0]:.2f} at the start, on a 2-core machine).",
        "",
        f'Resolution of each system template with `{{"model_id": ...}}` (and a value for each other required '
        f"parameter: the agents' secrets), {runs} runs each after 20 warm-up runs. "
        "*pure*: definitions passed in (`component_defs=`); *with DB*: definitions read from the database "
        "(one query) on every call. *CPU p99*: the pure path's thread CPU time (what the resolver itself costs, "
        "without time lost to other processes on the machine). Target: p99 < 5 ms.",
        "",
        "| template | components | pure median | pure p99 | pure CPU p99 | with DB median | with DB p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in resolve_rows:
        lines.append(
            f"| {row['slug']} | {row['components']} | {row['pure_median']:.3f} ms | {row['pure_p99']:.3f} ms "
            f"| {row['pure_cpu_p99']:.3f} ms "
            f"| {row['db_median']:.3f} ms | {row['db_p99']:.3f} ms |"
        )
    ratio = seed["first_median"] / seed["second_median"] if seed["second_median"] else float("nan")
    lines += [
        "",
        f"`seed_templates` ({seed['components']} components, {seed['templates']} templates), median of "
        f"{seed['rounds']} rounds on an emptied registry:",
        "",
        "| sync | median time | INSERT/UPDATE/DELETE queries |",
        "| --- | ---: | ---: |",
        f"| first (creates everything) | {seed['first_median']:.1f} ms | {seed['first_writes']} |",
        f"| second, unchanged | {seed['second_median']:.1f} ms | {seed['second_writes']} "
        f"(of {seed['second_queries']} queries) |",
        "",
        f"The unchanged sync is {ratio:.1f}x faster than the first and writes nothing.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    updated = pattern.sub(text + "\n", current) if pattern.search(current) else current.rstrip() + "\n\n" + text
    path.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true", help="Write the figures into BENCHMARKS.md.")
    parser.add_argument("--use-env-db", action="store_true", help="Use DATABASE_URL instead of a scratch SQLite.")
    args = parser.parse_args()
    runs, rounds = (100, 2) if args.quick else (1000, 5)
    load = os.getloadavg()
    setup_django(args.use_env_db)
    from django.db import connection

    from templates_app.seeding import seed_templates

    seed = bench_seed(rounds)
    seed_templates()
    rows = bench_resolve(runs)
    command = (
        "python bench/templates_bench.py"
        + (" --quick" if args.quick else "")
        + (" --use-env-db" if args.use_env_db else "")
    )
    text = report(rows, seed, runs, command, connection.vendor, load)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
