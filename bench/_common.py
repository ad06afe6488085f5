"""What every benchmark shares: its own embedded servers in a fresh folder, and a progress line."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bizosaas.infra import free_port  # noqa: E402 (imports nothing from Django)


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.1f} ms"


def _us(ns: float) -> str:
    return f"{ns / 1e3:.0f} us"


class Progress:
    """One status line on stderr, rewritten in place."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.started = label, total, time.monotonic()

    def update(self, done: int) -> None:
        width = 30
        filled = int(width * done / self.total) if self.total else width
        elapsed = time.monotonic() - self.started
        sys.stderr.write(
            f"\r  {self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {elapsed:5.1f}s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def configure() -> str:
    """Chooses a fresh folder and the embedded servers' addresses; must run before the settings are imported."""
    local_dir = tempfile.mkdtemp(prefix="bzs-bench-")
    os.environ["BIZOSAAS_LOCAL_DIR"] = local_dir
    os.environ["BIZOSAAS_TEMPORAL_PORT"] = str(free_port())
    os.environ["BIZOSAAS_TEMPORAL_UI_PORT"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bizosaas.settings.dev"
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collected static files here
    os.environ["DEBUG"] = "false"  # no per-query debug log: measure what production runs
    for var in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"):
        os.environ[var] = ""  # always this run's embedded servers, whatever the shell or a .env says
    return local_dir
