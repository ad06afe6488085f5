import os
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from honcho.manager import Manager
from honcho.printer import Printer

from bizosaas.infra import Infra, InfraError, default_root
from bizosaas.management.commands.infra import describe

GUNICORN_CONF = Path(settings.BASE_DIR) / "docker" / "gunicorn.conf.py"
# Each Celery worker serves its metrics on a port of its own (9466 is the Temporal worker's).
CELERY_METRICS_PORTS = {"fanout": 9465, "deliveries": 9467, "actions": 9468, "agents": 9469, "ingestion": 9470}


def celery_workers() -> dict[str, tuple[str, dict[str, str]]]:
    """One worker per work class (bizosaas.work), each on its own queue with CELERY_CONCURRENCY processes, so a
    class's slow tasks never take another's workers: (command, extra environment) per process name."""
    celery = Path(sys.executable).parent / "celery"
    workers = {}
    for work, concurrency in settings.CELERY_CONCURRENCY.items():
        queues = work
        extra = ""
        if work == "fanout":
            # the default queue, and beat (the integrations sweeper); production runs beat on its own
            queues = f"{work},{settings.CELERY_TASK_DEFAULT_QUEUE}"
            extra = f" -B --schedule {default_root() / 'celerybeat-schedule'}"
        command = (
            f"{celery} -A bizosaas worker -Q {queues} -n {work}@%h --concurrency {concurrency} --loglevel INFO "
            f"--without-gossip --without-mingle{extra}"
        )
        workers[f"celery-{work}"] = (command, {"CELERY_METRICS_BIND": f"127.0.0.1:{CELERY_METRICS_PORTS[work]}"})
    return workers


def processes(*, bind: str, portal: bool) -> dict[str, tuple[str, dict[str, str]]]:
    bin_dir = Path(sys.executable).parent
    python = sys.executable
    procs = {
        # docker/gunicorn.conf.py, as in the image (JSON logs, no access log, every process's metrics summed),
        # with GUNICORN_WORKERS processes (default 2: one interpreter a core, so one busy request does not hold
        # every other behind its GIL) of 16 threads: slow provider calls in requests are capped well below that
        # (apps/connectors/api/slow_calls.py), so webhook intake, health and the rest of the API always find one
        "gateway": (
            f"{bin_dir / 'gunicorn'} -c {GUNICORN_CONF} bizosaas.wsgi --bind {bind} "
            f"--workers {os.environ.get('GUNICORN_WORKERS') or 2} --threads 16 --timeout 60",
            # the portal's server is the one proxy in front: it sets X-Forwarded-For from its socket peer
            {
                "TRUSTED_PROXY_COUNT": os.environ.get("TRUSTED_PROXY_COUNT", "1" if portal else "0"),
                "TRUSTED_PROXY_NETWORKS": os.environ.get("TRUSTED_PROXY_NETWORKS", "127.0.0.0/8,::1/128"),
            },
        ),
        **celery_workers(),
        "temporal": (f"{python} manage.py temporal_worker", {}),
    }
    if portal:
        # the standalone server of the build (portal/scripts/start.mjs); its /api proxy talks to the gateway on its
        # bind address, server side
        procs["portal"] = ("npm --prefix portal run start", {"GATEWAY_URL": f"http://{bind}", "PORT": "3000"})
    return procs


class Command(BaseCommand):
    help = (
        "Runs everything for local use: embedded servers, migrations, the demo tenant, then the gateway, the "
        "Celery worker, the Temporal worker and the portal (when built) with prefixed output. Ctrl-C stops "
        "them all, and the embedded servers this command started."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("GATEWAY_BIND", "127.0.0.1:8000"))
        parser.add_argument("--keep-infra", action="store_true", help="leave the embedded servers running on exit")

    def handle(self, *args, bind: str, keep_infra: bool, **options):
        infra = Infra.from_env()
        already_up = {status.name for status in infra.status() if status.running}
        try:
            infra.up(on_ready=lambda status: self.stdout.write(describe(status)))
        except InfraError as exc:
            raise CommandError(str(exc)) from None
        try:
            call_command("migrate_schemas", interactive=False, verbosity=0)
            call_command("seed_demo", superadmin=True)
            call_command("collectstatic", interactive=False, verbosity=0)
            # `make run` builds the portal first; a bare `manage.py dev` starts it when a build is there
            built = Path(settings.BASE_DIR) / "portal" / ".next" / "standalone" / "server.js"
            portal = built.exists() and shutil.which("npm")
            self.banner(bind=bind, portal=bool(portal))
            manager = Manager(Printer(sys.stdout, colour=sys.stdout.isatty(), prefix=True))
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "NEXT_TELEMETRY_DISABLED": "1"}
            for name, (command, extra) in processes(bind=bind, portal=bool(portal)).items():
                manager.add_process(name, command, env={**env, **extra}, cwd=str(settings.BASE_DIR))
            manager.loop()
        finally:
            if not keep_infra:
                stopped = [c.name for c in infra.components() if c.name not in already_up and c.down()]
                if stopped:
                    self.stdout.write("stopped embedded servers: " + ", ".join(stopped))
        sys.exit(manager.returncode)

    def banner(self, *, bind: str, portal: bool) -> None:
        host, port = bind.rsplit(":", 1)
        host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104 (display only)
        lines = [
            "",
            "BizOSaaS is starting:",
            f"  gateway API     http://{host}:{port}/  (health /healthz, readiness /readyz, metrics /metrics)",
            f"  API docs        http://{host}:{port}/api/docs/  (OpenAPI schema /api/schema/)",
            f"  super admin     http://{host}:{port}/admin/",
            f"  admin login     {settings.DEMO_ADMIN_EMAIL} / {settings.DEMO_ADMIN_PASSWORD}",
            f"  demo tenant     http://{settings.DEMO_TENANT_SLUG}.{settings.TENANT_BASE_DOMAIN}:{port}/",
            f"  demo login      {settings.DEMO_OWNER_EMAIL} / {settings.DEMO_OWNER_PASSWORD}",
        ]
        if portal:
            lines.append("  client portal   http://localhost:3000/")
        if "temporal" not in Infra.from_env().external:
            ui = os.environ.get("BIZOSAAS_TEMPORAL_UI_PORT", "8233")
            if ui != "0":
                lines.append(f"  Temporal UI     http://localhost:{ui}/")
        lines += ["  Ctrl-C stops everything.", ""]
        self.stdout.write("\n".join(lines))
