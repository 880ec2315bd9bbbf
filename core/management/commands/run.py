"""Run the whole product from one command: bootstrap, then web server, Celery worker and beat; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from core.bootstrap import run_bootstrap


def banner(base: str, facts: dict) -> str:
    """What `make run` prints once started: where everything is and how to sign in."""
    return (
        "\nUseCase Foundry is starting:\n"
        f"  console     {base}/\n"
        f"  admin       {base}/admin/\n"
        f"  API docs    {base}/api/docs/\n"
        f"  OpenAPI     {base}/api/schema/ (YAML; ?format=json for JSON)\n"
        f"  health      {base}/healthz\n"
        f"  admin login {facts.get('admin_username')} / {facts.get('admin_password')}\n"
        f"  API token   {facts.get('api_token')}\n"
        "Press Ctrl-C to stop the web server, worker and beat.\n"
    )


class Command(BaseCommand):
    help = "Bootstrap, then run the web server, a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--concurrency", default=os.environ.get("WORKER_CONCURRENCY", "2"))

    def handle(self, *args, host, port, concurrency, **options):
        facts = run_bootstrap(stdout=self.stdout)
        python = sys.executable
        beat_schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "-c", str(concurrency)],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "info", "-s", beat_schedule],
        }
        processes = {name: self._start(name, cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(banner(f"http://{host}:{port}", facts)))
        stopping = threading.Event()

        def stop(*_):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping.is_set():
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping everything.")
                    exit_code = 1
                    stopping.set()
                    break
            stopping.wait(0.5)
        self._stop_all(processes)
        if exit_code:
            sys.exit(exit_code)

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # our handler decides when children stop, not the terminal's Ctrl-C
        )
        threading.Thread(target=self._pump, args=(name, process), daemon=True).start()
        return process

    def _pump(self, name: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            sys.stdout.write(f"[{name:6}] {line}")
            sys.stdout.flush()

    def _stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        self.stdout.write("Stopping web server, worker and beat ...")
        for process in processes.values():
            if process.poll() is None:
                process.terminate()  # the leader only: Celery's warm shutdown stops its own pool
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
