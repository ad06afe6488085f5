""".env.example is where an operator learns what can be set: it names every environment variable the settings
read (the test settings' own bookkeeping aside), and nothing the settings no longer read."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ("base.py", "dev.py", "prod.py")  # test.py's variables are the test session's own bookkeeping
# env("X"), env.int("X", ...), env.bool(\n "X"), os.environ.get("X"), os.environ["X"], os.getenv("X")
READ = re.compile(r"""\b(?:env(?:\.\w+)?\(|os\.environ(?:\.get)?[\[(]|os\.getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")
# NAME=value, or a commented-out "# NAME=value" for one left empty on purpose
LISTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def read_by_settings() -> set[str]:
    names: set[str] = set()
    for name in SETTINGS:
        names |= set(READ.findall((ROOT / "bizosaas" / "settings" / name).read_text()))
    return names


def listed() -> set[str]:
    return set(LISTED.findall((ROOT / ".env.example").read_text()))


def test_the_pattern_finds_every_way_the_settings_read_a_variable():
    sample = 'A = env.int(\n    "ONE", default=1)\nB = env("TWO")\nC = os.environ.get("THREE")\nD = os.getenv("FOUR")'
    assert set(READ.findall(sample)) == {"ONE", "TWO", "THREE", "FOUR"}


def test_every_variable_the_settings_read_is_in_env_example():
    names = read_by_settings()
    assert len(names) > 50  # the pattern still finds the settings' variables
    missing = sorted(names - listed())
    assert missing == [], f"add to .env.example (with a comment saying what each does): {missing}"


def test_env_example_lists_nothing_the_settings_do_not_read():
    names = read_by_settings() | set(re.findall(r"\b([A-Z][A-Z0-9_]{3,})\b", _other_readers()))
    stale = sorted(listed() - names)
    assert stale == [], f"no longer read by the settings or the processes `make run` starts: {stale}"


def _other_readers() -> str:
    """Variables read outside the settings by what `make run` starts (the infra, the dev command, the portal)."""
    sources = [ROOT / "bizosaas" / "env.py", ROOT / "bizosaas" / "infra.py", ROOT / "bizosaas" / "celery.py"]
    sources += sorted((ROOT / "bizosaas" / "management" / "commands").glob("*.py"))
    sources += [ROOT / "portal" / "next.config.mjs", ROOT / "portal" / "next.config.ts", ROOT / "Makefile"]
    return "\n".join(path.read_text() for path in sources if path.exists())
