from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    label = "workflows"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.workflows.rule_actions import register

        register()  # automation rules can start a workflow

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.accounts.quotas import register_counter
        from apps.workflows.models import WorkflowConfig

        register_counter("workflow_configs", lambda since: WorkflowConfig.objects.count())

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.accounts.services import register_tenant_status_hook
        from apps.workflows.services import schedules_follow_tenant

        register_tenant_status_hook(schedules_follow_tenant)  # a suspended tenant's schedules stop firing

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.workflows.services import register_durable_kinds

        register_durable_kinds()  # what the apps below start on Temporal (bizosaas.durable)
