"""A real OpenID Connect provider for tests and benchmarks: node `oidc-provider` (sso/tests/oidc-provider/), its
npm packages installed on first use into that folder's node_modules (ignored by git), run on 127.0.0.1 on a
free port. `node_unavailable()` says why it cannot run (no Node.js), for a skip."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

PROVIDER_DIR = Path(__file__).resolve().parent / "tests" / "oidc-provider"
API_AUDIENCE = "urn:ucf:api"
WEB_CLIENT = ("ucf-web", "web-secret")
CI_CLIENT = ("ucf-ci", "ci-secret")
SCOPES = "openid email profile groups"


def node_unavailable() -> str | None:
    """None when the provider can run here (installing its npm packages on first use), else why not (no Node.js),
    for pytest.skip."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js (node and npm) is not installed: the single sign-on tests need it to run oidc-provider"
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return None
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        # Node.js is here, so the tests must run: a failed install is an error, never a quiet skip.
        raise RuntimeError(f"npm ci in {PROVIDER_DIR} failed: {result.stderr.strip()[-500:]}")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestProvider:
    """One oidc-provider process: a web client (authorization code + PKCE), a CI client (client credentials whose
    tokens carry `ci_groups`), and users with passwords and groups kept in a JSON file read at every sign-in."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, redirect_base: str, ci_groups: list[str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.users_file = self.folder / "users.json"
        self.users: dict = {}
        self.write_users()
        redirect_base = redirect_base.rstrip("/")
        config = {
            "port": self.port,
            "users_file": str(self.users_file),
            "api_audience": API_AUDIENCE,
            "clients": [
                {
                    "client_id": WEB_CLIENT[0],
                    "client_secret": WEB_CLIENT[1],
                    "redirect_uris": [f"{redirect_base}/accounts/oidc/callback/"],
                    "post_logout_redirect_uris": [f"{redirect_base}/accounts/login/"],
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                },
                {
                    "client_id": CI_CLIENT[0],
                    "client_secret": CI_CLIENT[1],
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "redirect_uris": [],
                    "groups": ci_groups or [],
                },
            ],
        }
        self.config_file = self.folder / "config.json"
        self.config_file.write_text(json.dumps(config))
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start (or start again: a new signing key, i.e. a key rotation) and wait until it answers."""
        self.log = (self.folder / "provider.log").open("a")
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(PROVIDER_DIR / "server.mjs"), str(self.config_file)],
            cwd=PROVIDER_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited; see {self.folder / 'provider.log'}")
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"oidc-provider did not answer within 30 s; see {self.folder / 'provider.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        self.log.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def write_users(self) -> None:
        self.users_file.write_text(json.dumps(self.users))

    def add_user(self, username: str, *, password: str, groups: list[str], **claims) -> None:
        self.users[username] = {"password": password, "groups": groups, "email": f"{username}@example.com", **claims}
        self.write_users()

    def set_groups(self, username: str, groups: list[str]) -> None:
        self.users[username]["groups"] = groups
        self.write_users()

    def client_credentials_token(self, client: tuple[str, str] = CI_CLIENT) -> str:
        response = requests.post(
            f"{self.issuer}/token", data={"grant_type": "client_credentials"}, auth=client, timeout=10
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def sign_in(self, authorize_url: str, *, username: str, password: str, stop_at: str) -> str:
        """Play the browser at the provider: follow its redirects, fill its login page, and return the first URL
        that leaves it for `stop_at` (the relying party's callback with code and state)."""
        session = requests.Session()
        url, data = authorize_url, None
        for _ in range(20):
            response = (
                session.post(url, data=data, allow_redirects=False, timeout=10)
                if data
                else session.get(url, allow_redirects=False, timeout=10)
            )
            data = None
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                if url.startswith(stop_at):
                    return url
                continue
            form = re.search(r'<form method="post" action="([^"]+)"', response.text)
            if response.status_code != 200 or form is None:
                raise AssertionError(f"provider answered {response.status_code}: {response.text[:500]}")
            url, data = urljoin(url, form.group(1)), {"login": username, "password": password}
        raise AssertionError("the provider never sent the browser back")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
