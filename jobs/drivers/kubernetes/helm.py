"""Helm releases through the real `helm` binary (Helm 4): render first (`helm template`) so the job layer's
refusals and the OpenAPI schema check the chart's rendered objects, then `helm upgrade --install
--rollback-on-failure` (Helm 4's name for `--atomic`) in a process of its own, so a slow chart never holds a
request or a worker. Its outcome is read back from the release record Helm keeps in the namespace (a Secret
labelled owner=helm) and from the process's exit file."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from django.conf import settings

from core.exceptions import ValidationError
from jobs.drivers.kubernetes.manifests import check_manifests

TEMPLATE_TIMEOUT = 120


def helm_binary() -> str:
    """HELM_BINARY, else `helm` on PATH, else the one scripts/k8s-test-cluster/tools.sh installs."""
    configured = getattr(settings, "HELM_BINARY", "") or shutil.which("helm")
    if configured:
        return configured
    raise ValidationError({"spec.kind": ["Helm components need the helm binary (set HELM_BINARY)."]})


def work_dir(job_id) -> Path:
    """A private folder per job: values, kubeconfig (deleted when helm exits), helm's output and exit code."""
    root = Path(getattr(settings, "KUBERNETES_WORK_DIR", "") or tempfile.gettempdir()) / "ucf-helm"
    path = root / str(job_id)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _chart_args(spec: dict) -> list[str]:
    args = [str(spec["chart"]), "--repo", str(spec["repo"])] if spec.get("repo") else [str(spec["chart"])]
    if spec.get("version"):
        args += ["--version", str(spec["version"])]
    return args


def _connection_args(folder: Path, kubeconfig: str | None) -> list[str]:
    if kubeconfig is None:  # in-cluster credentials: helm finds the service account itself
        return []
    path = folder / "kubeconfig"
    path.write_text(kubeconfig)
    path.chmod(0o600)
    return ["--kubeconfig", str(path)]


def render(*, job_id, release: str, namespace: str, spec: dict, values: dict) -> list[dict]:
    """The chart's objects as `helm template` renders them with these values, each checked before install."""
    folder = work_dir(job_id)
    values_file = folder / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    command = [helm_binary(), "template", release, *_chart_args(spec), "--namespace", namespace, "-f", str(values_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TEMPLATE_TIMEOUT, check=False)
    if done.returncode != 0:
        raise ValidationError({"spec.chart": [f"helm could not render the chart: {done.stderr.strip()[-2000:]}"]})
    manifests = [doc for doc in yaml.safe_load_all(done.stdout) if isinstance(doc, dict) and doc.get("kind")]
    check_manifests(manifests)
    return manifests


def install(
    *, job_id, release: str, namespace: str, spec: dict, values: dict, kubeconfig: str | None, timeout: str
) -> None:
    """Start `helm upgrade --install --rollback-on-failure` in the background; `outcome` reads how it ended."""
    folder = work_dir(job_id)
    (folder / "values.yaml").write_text(yaml.safe_dump(values))
    for name in ("exit", "output"):
        (folder / name).unlink(missing_ok=True)
    command = [
        helm_binary(),
        "upgrade",
        "--install",
        release,
        *_chart_args(spec),
        "--namespace",
        namespace,
        "-f",
        str(folder / "values.yaml"),
        "--rollback-on-failure",
        "--wait=watcher",
        "--timeout",
        timeout,
        *_connection_args(folder, kubeconfig),
    ]
    _spawn(command, folder)


def uninstall(*, job_id, release: str, namespace: str, kubeconfig: str | None) -> None:
    """`helm uninstall` (a release already gone is fine); waits, so the objects are gone when it returns."""
    folder = work_dir(job_id)
    command = [
        helm_binary(),
        "uninstall",
        release,
        "--namespace",
        namespace,
        "--ignore-not-found",
        "--wait",
        "--timeout",
        "2m",
        *_connection_args(folder, kubeconfig),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    finally:
        (folder / "kubeconfig").unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"helm uninstall {release} failed: {done.stderr.strip()[-2000:]}")


def _spawn(command: list[str], folder: Path) -> None:
    # Detached from this process (own session): a worker restart does not kill an install half-way. The wrapper
    # records the exit code and removes the kubeconfig copy once helm is done with it.
    script = (
        '"$@" >"$UCF_DIR/output" 2>&1; echo $? >"$UCF_DIR/exit.tmp"; mv "$UCF_DIR/exit.tmp" "$UCF_DIR/exit"; '
        'rm -f "$UCF_DIR/kubeconfig"'
    )
    subprocess.Popen(
        ["sh", "-c", script, "helm", *command],
        env={**os.environ, "UCF_DIR": str(folder)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def outcome(job_id) -> tuple[int | None, str]:
    """(exit code or None while helm runs, the end of its output)."""
    folder = work_dir(job_id)
    exit_file = folder / "exit"
    if not exit_file.exists():
        return None, ""
    output = (folder / "output").read_text(errors="replace") if (folder / "output").exists() else ""
    return int(exit_file.read_text().strip() or 1), output.strip()[-2000:]
