from apps.accounts.management.commands.create_tenant import Command as CreateTenant


class Command(CreateTenant):
    """django_tenants ships an interactive `create_tenant` that bypasses our service (no audit, no domain rules);
    `bizosaas` is listed before django_tenants so that this one, `apps.accounts`' command, wins."""
