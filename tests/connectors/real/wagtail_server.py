"""A real Wagtail site (the pinned `wagtail` in its own virtualenv, `make real-servers`) for the connector tests:
migrated into SQLite in a temporary folder, seeded through Wagtail's own page API with absolute publication times,
served by Django's runserver on a free loopback port. `WagtailSite.held()` asks Wagtail (not its API) what it holds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
PYTHON = REPO / ".local" / "real-servers" / "wagtail" / "bin" / "python"
SITE = Path(__file__).resolve().parent / "wagtail_site"


def missing() -> str | None:
    return None if PYTHON.exists() else f"{PYTHON} is missing"


@dataclass
class WagtailSite:
    root: Path
    port: int
    token: str = ""
    ids: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "BIZOSAAS_WAGTAIL_DIR": str(self.root), "BIZOSAAS_WAGTAIL_PORT": str(self.port),
                "DJANGO_SETTINGS_MODULE": "site_settings", "PYTHONPATH": str(SITE)}  # fmt: skip

    def run(self, *args: str) -> str:
        done = subprocess.run([str(PYTHON), *args], cwd=SITE, env=self.env(), capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"wagtail {args} failed: {done.stderr[-3000:]}")
        return done.stdout

    def held(self) -> dict[str, dict]:
        return json.loads(self.run("held.py"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> WagtailSite:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = WagtailSite(root=Path(tempfile.mkdtemp(prefix="bizosaas-wagtail-")), port=port)
    try:
        site.run("-m", "django", "migrate", "-v0")
        seeded = json.loads(site.run("seed.py"))
        site.token, site.ids = seeded["token"], seeded["ids"]
        site.process = subprocess.Popen(
            [str(PYTHON), "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=SITE, env=site.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{site.url}/api/v2/pages/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end or site.process.poll() is not None:
                raise RuntimeError("Wagtail did not start")
            time.sleep(0.1)
    except BaseException:
        site.stop()
        raise
    return site
