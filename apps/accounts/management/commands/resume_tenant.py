from apps.accounts.management.common import TenantStatusCommand
from apps.accounts.models import Tenant


class Command(TenantStatusCommand):
    help = "Resumes a suspended tenant: its members and API keys work again."
    status = Tenant.Status.ACTIVE
    command_name = "resume_tenant"
    effect = "its members and API keys work again."
