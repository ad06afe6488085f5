from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    label = "workflows"

    def ready(self) -> None:
        from apps.workflows.rule_actions import register

        register()  # automation rules can start a workflow
