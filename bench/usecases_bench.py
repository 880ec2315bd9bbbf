"""Benchmark of the usecase catalog on PostgreSQL (issue 4).

Creates its own database, fills it with N usecases (bulk_create, ~3 tags each), then measures in-process with
DRF's APIClient (token authentication, the full Django/DRF stack, no network):
  - GET /api/usecases/search for typical filter combinations: median, p99, SQL queries per request;
  - GET /api/usecases/{unique_id} uncached (cache key deleted before each request) and cached;
  - import throughput: a 10,000-entry file of new usecases, the same file again with every entry changed,
    and once more unchanged (usecases per second, including validation).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/uf_bench_usecases REDIS_URL=redis://127.0.0.1:6379/2 \
        .venv/bin/python bench/usecases_bench.py            # 100,000 usecases (a few minutes)
    ... bench/usecases_bench.py --quick                     # 5,000 usecases, < 1 minute

The database named in DATABASE_URL is dropped and re-created at the start and dropped at the end (--keep keeps
it). Without REDIS_URL the cache is local memory, which flatters the cached figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

# The code searched: this tree, or another one (BENCH_ROOT, as bench/usecases_ab.sh runs one script on two trees).
ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

SEARCHES = [
    ("no filters (first page of 100)", ""),
    ("industry", "industry=Healthcare"),
    ("industry + max_e2e_latency", "industry=finance&max_e2e_latency=5"),
    ("tags (all of 2)", "tags=chatbot,rag"),
    ("tags_mode=any (2 tags)", "tags=voice,real-time&tags_mode=any"),
    (
        "token overlap + profile + sort",
        "min_input_tokens=8000&latency_profile=interactive&sort_by=input_tokens_max&sort_order=desc",
    ),
    ("input range + output range", "min_input_tokens=1000&max_input_tokens=4000&min_output_tokens=500"),
    ("full text q", "q=contract review"),
    ("full text q + industry", "q=assistant&industry=Retail"),
    ("everything", "q=summarization&industry=Legal&tags=summarization&max_ttft=10&input_length_profile=long"),
]


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def seed(count: int, fixture: list[dict]) -> None:
    from django.db import connection

    from usecases.models import UseCase, UseCaseTag, UseCaseVersion

    rng = random.Random(4)
    fields = [f for f in fixture[0] if f not in ("unique_id", "tags", "name", "description")]
    rows, batch = [], 5000
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(count, start + batch)):
            base = fixture[n % len(fixture)]
            scale = rng.uniform(0.6, 1.6)
            row = UseCase(
                unique_id=f"{base['unique_id']}_{n:06d}",
                name=f"{base['name']} #{n}",
                description=base["description"],
                version=1,
                **{f: base[f] for f in fields},
            )
            row.input_tokens_min = int(base["input_tokens_min"] * scale)
            row.input_tokens_max = int(base["input_tokens_max"] * scale)
            row.e2e_min = round(base["e2e_min"] * scale, 2)
            row.e2e_max = round(base["e2e_max"] * scale, 2)
            rows.append(row)
        UseCase.objects.bulk_create(rows)
        UseCaseTag.objects.bulk_create(
            [
                UseCaseTag(usecase=row, name=tag)
                for row, n in zip(rows, range(start, count), strict=False)
                for tag in fixture[n % len(fixture)]["tags"]
            ]
        )
        UseCaseVersion.objects.bulk_create(
            [UseCaseVersion(usecase=row, version=1, kind="imported", snapshot={}) for row in rows]
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would leave it: index-only scans without heap fetches


CPU_TIMES: list[float] = []  # thread CPU time of the requests of the last timed() call: this process's work only


def timed(client, path: str, runs: int, before=None) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    CPU_TIMES.clear()
    queries = 0
    status = 0
    for _ in range(runs):
        target = before() if before else path
        with CaptureQueriesContext(connection) as ctx:
            start, cpu = time.perf_counter(), time.thread_time()
            response = client.get(target)
            timings.append((time.perf_counter() - start) * 1000)
            CPU_TIMES.append((time.thread_time() - cpu) * 1000)
        status = response.status_code
        queries = len(ctx.captured_queries)
    return timings, queries, status


def explain(client) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each catalog query a search runs (not the token lookup), as the search ran it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for label, query in SEARCHES:
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/api/usecases/search?{query}")
        print(f"\n### {label}\n")
        for captured in ctx.captured_queries:
            sql = captured["sql"]
            if "usecases_usecase" not in sql:  # the token lookup, when the token cache misses
                continue
            if sql.startswith("EXPLAIN"):  # the count's estimate: the plan is its answer
                print(f"```\n{sql[:300]}\n```")
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            print(f"```\n{sql[:300]}\n{plan}\n```")


def explain_times(client, runs: int) -> None:
    """The median PostgreSQL execution time (EXPLAIN ANALYZE, `runs` times) of each search's catalog statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    print(f"\n| search | PostgreSQL execution, median of {runs} (ms) | planning (ms) |")
    print("| --- | ---: | ---: |")
    for label, query in SEARCHES:
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/api/usecases/search?{query}")
        statements = [c["sql"] for c in ctx.captured_queries if "usecases_usecase" in c["sql"]]
        executed, planned = [], []
        for _ in range(runs):
            with connection.cursor() as cursor:
                total = [0.0, 0.0]
                for sql in statements:
                    cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                    plan = cursor.fetchone()[0]
                    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                    total[0] += plan["Execution Time"]
                    total[1] += plan["Planning Time"]
            executed.append(total[0])
            planned.append(total[1])
        print(f"| {label} | {statistics.median(executed):.2f} | {statistics.median(planned):.2f} |")


# Beside each search as the table times it: another page, another sort, inactive rows, a long page of the list.
ANSWER_VARIANTS = ("offset=250&limit=37", "sort_by=created_at&sort_order=desc", "include_inactive=true&limit=500")
ANSWER_EXTRA = ("/api/usecases?limit=1000&offset=5000", "/api/usecases")


def answer_paths() -> list[str]:
    """The requests whose bodies --save-answers keeps and --check-answers compares: every search, each also with
    ANSWER_VARIANTS, and the list endpoint."""
    paths = []
    for _, query in SEARCHES:
        paths.append(f"/api/usecases/search?{query}")
        paths += [f"/api/usecases/search?{query}{'&' if query else ''}{variant}" for variant in ANSWER_VARIANTS]
    return [*paths, *ANSWER_EXTRA]


def answers(client, *, save: str | None, check: str | None) -> None:
    """Save the response bodies of answer_paths() (as text, path -> body), or check them byte for byte against a
    saved file (another commit's code on the same rows): exits non-zero on the first difference."""
    got = {}
    for path in answer_paths():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        got[path] = response.content.decode()
    if save:
        Path(save).write_text(json.dumps(got, indent=0))
        print(f"\nsaved {len(got)} answers ({sum(map(len, got.values())):,} bytes) to {save}")
    if check:
        expected = json.loads(Path(check).read_text())
        differ = [path for path in expected if got.get(path) != expected[path]]
        missing = sorted(set(got) - set(expected))
        if differ or missing:
            for path in differ[:5]:
                old, new = expected[path], got.get(path) or ""
                at = next(
                    (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new))
                )
                print(
                    f"DIFFERS {path} at byte {at}:\n  saved: {old[max(0, at - 80) : at + 80]}\n  now:   "
                    f"{new[max(0, at - 80) : at + 80]}"
                )
            sys.exit(f"answers differ from {check}: {len(differ)} of {len(expected)} (not saved here: {missing})")
        print(f"\nsame answers as {check}: {len(got)} responses, {sum(map(len, got.values())):,} bytes, byte for byte")


def summarise(before: str, after: str) -> None:
    """The before/after table of two --samples files: every sample of each search pooled over the rounds."""

    def load(path: str) -> dict[str, dict]:
        pooled: dict[str, dict] = {}
        for line in Path(path).read_text().splitlines():
            sample = json.loads(line)
            entry = pooled.setdefault(sample["search"], {"ms": [], "cpu_ms": []})
            entry["ms"] += sample["ms"]
            entry["cpu_ms"] += sample["cpu_ms"]
            entry.update(queries=sample["queries"], found=sample["found"])
        return pooled

    old, new = load(before), load(after)
    print(
        "| search | requests | before median | after median | before p99 | after p99 | before CPU | after CPU "
        "| queries | matches (after) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, _ in SEARCHES:
        b, a = old.get(label), new.get(label)
        if not (a and b):
            continue
        cells = [
            f"{len(b['ms'])} / {len(a['ms'])}",
            *(f"{statistics.median(x['ms']):.1f}" for x in (b, a)),
            *(f"{percentile(x['ms'], 99):.1f}" for x in (b, a)),
            *(f"{statistics.median(x['cpu_ms']):.1f}" for x in (b, a)),
            f"{b['queries']} → {a['queries']}",
            a["found"],
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 usecases, 1,000-entry import, fewer runs")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--import-size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true", help="search a database kept by --keep: no drop, no seeding")
    parser.add_argument("--searches-only", action="store_true", help="skip the detail and import measurements")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every search's queries")
    parser.add_argument("--explain-times", type=int, metavar="N", help="median execution time of N EXPLAIN ANALYZE")
    parser.add_argument("--samples", help="append each search's timings (ms) as a JSON line to this file")
    parser.add_argument("--save-answers", metavar="FILE", help="save the bodies of every search (and variants) as JSON")
    parser.add_argument("--check-answers", metavar="FILE", help="compare them byte for byte with a --save-answers file")
    parser.add_argument(
        "--summarise", nargs=2, metavar=("BEFORE", "AFTER"), help="print the before/after table of two --samples files"
    )
    args = parser.parse_args()
    if args.summarise:
        summarise(*args.summarise)
        return
    if args.quick:
        args.count, args.import_size, args.runs = 5_000, 1_000, 50

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database the benchmark may drop and re-create.")
    if not args.reuse:
        recreate_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from tenancy.tests.factories import token_for
    from usecases import caching, services

    call_command("migrate", verbosity=0)
    cache.clear()
    fixture = json.loads((ROOT / "fixtures" / "usecases.json").read_text())
    t0 = time.perf_counter()
    if not args.reuse:
        seed(args.count, fixture)
    seed_s = time.perf_counter() - t0

    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")

    cache_backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"## {args.count:,} usecases on PostgreSQL, cache {cache_backend}; seeded in {seed_s:.1f} s")
    print(f"in-process DRF APIClient with token auth; {args.runs} requests per row after 5 warm-up requests\n")
    print("| request | median ms | p99 ms | CPU median ms | queries/request | results |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, query in SEARCHES:
        path = f"/api/usecases/search?{query}"
        timed(client, path, 5)
        timings, queries, status = timed(client, path, args.runs)
        assert status == 200, (path, status)
        body = client.get(path).json()
        found = f"{body['count']:,}" + ("" if body.get("count_exact", True) else " (estimate)")
        if args.samples:
            with open(args.samples, "a") as out:
                sample = {"search": label, "ms": timings, "cpu_ms": CPU_TIMES, "queries": queries, "found": found}
                out.write(json.dumps(sample) + "\n")
        print(
            f"| search: {label} | {statistics.median(timings):.1f} | {percentile(timings, 99):.1f} | "
            f"{statistics.median(CPU_TIMES):.1f} | {queries} | {found} |"
        )
    if args.save_answers or args.check_answers:
        answers(client, save=args.save_answers, check=args.check_answers)
    if args.explain:
        explain(client)
    if args.explain_times:
        explain_times(client, args.explain_times)
    if args.searches_only:
        return

    rng = random.Random(7)
    unique_ids = [f"{fixture[n % len(fixture)]['unique_id']}_{n:06d}" for n in rng.sample(range(args.count), 500)]

    def uncached():
        unique_id = rng.choice(unique_ids)
        cache.delete(caching.detail_key(unique_id))
        return f"/api/usecases/{unique_id}"

    timed(client, "", 5, before=uncached)
    cold, cold_q, _ = timed(client, "", args.runs, before=uncached)
    cold_cpu = statistics.median(CPU_TIMES)
    hot_id = unique_ids[0]
    client.get(f"/api/usecases/{hot_id}")
    hot, hot_q, _ = timed(client, f"/api/usecases/{hot_id}", args.runs)
    hot_cpu = statistics.median(CPU_TIMES)
    for label, times, cpu, queries in (("uncached", cold, cold_cpu, cold_q), ("cached", hot, hot_cpu, hot_q)):
        print(
            f"| detail, {label} | {statistics.median(times):.2f} | {percentile(times, 99):.2f} | {cpu:.2f} | "
            f"{queries} | 1 |"
        )
    print(f"\ncached/uncached median ratio: {statistics.median(hot) / statistics.median(cold):.2f}")

    entries = []
    for n in range(args.import_size):
        base = dict(fixture[n % len(fixture)])
        base.update(unique_id=f"imported_{n:06d}", name=f"{base['name']} (import {n})")
        for field in ("input_tokens_min", "input_tokens_max"):
            base[field] = str(base[field])  # real files carry numbers as strings
        entries.append(base)
    print(f"\n| import of a {args.import_size:,}-entry file | seconds | usecases/s |")
    print("| --- | ---: | ---: |")
    for label, data in (
        ("all new", entries),
        ("all changed", [dict(e, description=e["description"] + " v2") for e in entries]),
        ("all unchanged", [dict(e, description=e["description"] + " v2") for e in entries]),
    ):
        start = time.perf_counter()
        report = services.usecases_import(data=json.loads(json.dumps(data)))
        seconds = time.perf_counter() - start
        assert not report["errors"], report["errors"][:3]
        print(
            f"| {label} (created {report['created']}, updated {report['updated']}, unchanged "
            f"{report['unchanged']}) | {seconds:.2f} | {args.import_size / seconds:,.0f} |"
        )

    from django.db import connections

    connections.close_all()
    if not args.keep:
        recreate_database(url, drop_only=True)


if __name__ == "__main__":
    main()
