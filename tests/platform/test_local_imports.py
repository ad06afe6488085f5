"""bin/check_local_imports.py (make lint): a project import inside a function needs a reason in a comment."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_local_imports", ROOT / "bin" / "check_local_imports.py")
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)


def offences(source: str) -> list[str]:
    return checker.offences(dedent(source), "sample.py")


def test_unexplained_project_imports_in_functions_are_offences():
    found = offences(
        """
        from apps.accounts.models import Tenant  # module level: fine


        def handler():
            import json

            from apps.agents.models import Agent
            from bizosaas import metrics  # noqa: F401
            from . import sibling


        class Service:
            async def run(self):
                if True:
                    import bizosaas.work
        """
    )
    assert found == [
        "sample.py:8: from apps.agents.models import Agent",
        "sample.py:9: from bizosaas import metrics",
        "sample.py:10: from . import sibling",
        "sample.py:16: import bizosaas.work",
    ]


def test_a_reason_on_the_line_or_above_the_block_is_enough():
    assert not offences(
        """
        def ready():
            from apps.agents.models import Agent  # apps.agents.models imports this module
            from bizosaas import metrics  # noqa: F401  (registers the gauges)

            # the apps registry is not ready at import time
            from apps.accounts.quotas import register_counter
            from apps.workflows.models import WorkflowConfig

            try:
                # guarded: the optional module may be missing
                from apps.agents.knowledge.search import search
            except ImportError:
                pass
        """
    )


def test_a_comment_above_a_gap_does_not_cover_the_import():
    found = offences(
        """
        def task():
            # the apps registry is not ready at import time
            from django.db.models import F

            from apps.agents.models import Agent
        """
    )
    assert found == ["sample.py:6: from apps.agents.models import Agent"]


def test_the_repository_passes():
    result = subprocess.run([sys.executable, "bin/check_local_imports.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
