"""Importing settings writes nothing to disk; start-up makes the embedded default's folders."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, var_dir: Path) -> str:
    environment = {**os.environ, "VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    environment.pop("REDIS_URL", None)
    environment.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_settings_creates_no_folder(tmp_path):
    var_dir = tmp_path / "var"
    assert _python("from django.conf import settings; print(settings.VAR_DIR)", var_dir) == str(var_dir)
    assert not var_dir.exists()


def test_start_up_creates_the_embedded_defaults_folders(tmp_path):
    var_dir = tmp_path / "var"
    _python("import django; django.setup()", var_dir)
    made = {str(path.relative_to(var_dir)) for path in var_dir.rglob("*")}
    assert {"static", "broker/queue", "broker/processed", "broker/control", "broker/results"} <= made


def test_dot_env_is_read_before_any_variable():
    source = (ROOT / "config" / "settings" / "base.py").read_text()
    assert source.index("env.read_env(") < source.index('env.str("VAR_DIR"')
    assert source.count("environ.Env()") == 1
