"""What several benches share: a Celery worker of the product, a fresh PostgreSQL database to run on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def celery_worker(*, name: str, queue: str) -> subprocess.Popen:
    """One worker process (concurrency 1) on `queue`, with this process's environment; its output is discarded."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "-c",
            "1",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fresh_postgres(name: str) -> None:
    """Drop and create database `name` and point DATABASE_URL at it; REDIS_URL is BENCH_REDIS_URL (default db 9)."""
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
