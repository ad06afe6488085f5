from apps.accounts.management.common import TenantStatusCommand
from apps.accounts.models import Tenant


class Command(TenantStatusCommand):
    help = "Suspends a tenant: its members and API keys get 403 on every API call until it is resumed."
    status = Tenant.Status.SUSPENDED
    command_name = "suspend_tenant"
    effect = "its members and API keys now get 403 on every API call."
