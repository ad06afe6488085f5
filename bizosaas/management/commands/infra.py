from django.core.management.base import BaseCommand, CommandError

from bizosaas.infra import Infra, InfraError, Status


def describe(status: Status) -> str:
    state = "up" if status.running else "down"
    owner = f"started by bizosaas, pid {status.pid}" if status.managed and status.pid else "not started by bizosaas"
    extra = f"; {status.detail}" if status.detail else ""
    return f"{status.name:<9} {state:<5} {status.address} ({owner}{extra})"


class Command(BaseCommand):
    help = (
        "Manages the embedded PostgreSQL, Redis and Temporal servers under .local/: up (idempotent, waits until "
        "each accepts connections), down (stops only what it started), status. A component whose variable "
        "(DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS) is set is external and left alone."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["up", "down", "status"])

    def handle(self, *args, action: str, **options):
        infra = Infra.from_env()
        for name in sorted(infra.external):
            self.stdout.write(f"{name:<9} external (configured by environment; not managed here)")
        try:
            if action == "up":
                infra.up(on_ready=lambda status: self.stdout.write(describe(status)))
            elif action == "down":
                stopped = infra.down()
                self.stdout.write("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            else:
                statuses = infra.status()
                for status in statuses:
                    self.stdout.write(describe(status))
                if not all(status.running for status in statuses):
                    raise CommandError("not every embedded server is up (run: python manage.py infra up)")
        except InfraError as exc:
            raise CommandError(str(exc)) from None
