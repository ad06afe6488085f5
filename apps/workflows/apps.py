from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    label = "workflows"

    def ready(self) -> None:
        from apps.workflows.rule_actions import register

        register()  # automation rules can start a workflow

        from apps.accounts.quotas import register_counter
        from apps.workflows.models import WorkflowConfig

        register_counter("workflow_configs", lambda since: WorkflowConfig.objects.count())
