"""`infra up|down|status` against real servers of their own, in a folder of each test's own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bizosaas.infra import Infra, Temporal, _pid_alive, _tcp_open, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def infra(tmp_path):
    instance = Infra(root=tmp_path / "local", temporal_port=free_port(), temporal_ui_port=None)
    yield instance
    instance.down()


def pids(infra: Infra) -> dict[str, int | None]:
    return {status.name: status.pid for status in infra.status()}


def manage(*args: str, root: Path, temporal_port: int) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")
    }
    env.update(
        BIZOSAAS_LOCAL_DIR=str(root),
        BIZOSAAS_TEMPORAL_PORT=str(temporal_port),
        BIZOSAAS_TEMPORAL_UI_PORT="0",
        DJANGO_SETTINGS_MODULE="bizosaas.settings.dev",
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_up_status_down_through_the_operator_command(tmp_path):
    root, port = tmp_path / "local", free_port()
    try:
        up = manage("infra", "up", root=root, temporal_port=port)
        assert up.returncode == 0, up.stderr
        assert "postgres  up" in up.stdout
        assert "redis     up" in up.stdout
        assert f"temporal  up    127.0.0.1:{port} (started by bizosaas" in up.stdout

        status = manage("infra", "status", root=root, temporal_port=port)
        assert status.returncode == 0
        assert status.stdout.count(" up ") == 3

        again = manage("infra", "up", root=root, temporal_port=port)  # idempotent: same servers reused
        assert again.returncode == 0
        assert [line.split("pid")[1] for line in again.stdout.splitlines()] == [
            line.split("pid")[1] for line in up.stdout.splitlines()
        ]
        server_pids = [int(line.split("pid ")[1].split(")")[0].split(";")[0]) for line in up.stdout.splitlines()]
    finally:
        down = manage("infra", "down", root=root, temporal_port=port)

    assert down.returncode == 0
    assert down.stdout.strip() == "stopped: temporal, redis, postgres"
    assert not any(_pid_alive(pid) for pid in server_pids)
    assert not _tcp_open("127.0.0.1", port)
    after = manage("infra", "status", root=root, temporal_port=port)
    assert after.returncode == 1
    assert after.stdout.count(" down ") == 3
    assert "not every embedded server is up" in after.stderr


def test_down_with_nothing_running_is_a_no_op(infra):
    assert infra.down() == []


def test_up_recovers_after_every_server_was_killed(infra):
    # given servers that crashed hard, leaving their pid files, sockets and lock files behind
    infra.up()
    before = pids(infra)
    for pid in before.values():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_pid_alive(pid) for pid in before.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (infra.root / "pg" / "postmaster.pid").exists()
    assert (infra.root / "redis" / "redis.pid").exists()
    assert (infra.root / "temporal" / "temporal.pid").exists()

    # when up runs again
    statuses = infra.up()

    # then every server is back, as a new process, without manual clean-up
    assert all(status.running for status in statuses)
    after = pids(infra)
    assert all(after[name] != before[name] for name in before)

    # and down leaves no process behind
    infra.down()
    assert not any(_pid_alive(pid) for pid in after.values())


def test_up_ignores_stale_pid_files_naming_dead_processes(infra):
    infra.up()
    infra.down()
    for folder, name in (("pg", "postmaster.pid"), ("redis", "redis.pid"), ("temporal", "temporal.pid")):
        (infra.root / folder).mkdir(parents=True, exist_ok=True)
        (infra.root / folder / name).write_text("999999\n")

    statuses = infra.up()

    assert [status.name for status in statuses if status.running] == ["postgres", "redis", "temporal"]


def test_a_server_already_listening_is_reused_and_never_stopped(tmp_path):
    # given a Temporal dev server somebody else started on the port
    port = free_port()
    foreign = subprocess.Popen(
        [Temporal.executable(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _tcp_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        temporal = Temporal(tmp_path, port=port, ui_port=None)

        # when infra brings Temporal up and down
        status = temporal.up()
        stopped = temporal.down()

        # then it used the running server and left it running
        assert status.running and not status.managed
        assert stopped is False
        assert foreign.poll() is None
        assert _tcp_open("127.0.0.1", port)
    finally:
        foreign.terminate()
        foreign.wait(10)


def test_external_components_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.delenv("DATABASE_URL", raising=False)

    infra = Infra.from_env(root=tmp_path)

    assert [component.name for component in infra.components()] == ["postgres"]
    assert infra.external == {"redis", "temporal"}


def test_an_interrupted_first_start_is_cleaned_up(tmp_path):
    debris = tmp_path / "pg"
    debris.mkdir()
    (debris / "postmaster.pid").write_text("999999\n")
    (debris / "global").mkdir()
    infra = Infra(root=tmp_path, temporal_port=free_port(), temporal_ui_port=None)
    try:
        assert infra.postgres.up().running
    finally:
        infra.down()
