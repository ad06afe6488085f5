from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.agents import tasks  # noqa: F401  (registers the tasks bizosaas.enqueue sends by name)
        from apps.agents.knowledge import tasks as knowledge_tasks  # noqa: F401  (the same)
        from apps.agents.rule_actions import register

        register()  # automation rules can run an agent
        _register_quota_counters()


def _register_quota_counters() -> None:
    """What the LLM budgets and knowledge capacities of apps.accounts.quotas count, in the tenant's schema."""
    from django.db.models import F, Sum

    # here, not at the top: Django imports apps.py before the apps registry is ready
    from apps.accounts.quotas import register_counter
    from apps.agents.models import AgentRun, Document

    def runs(since):
        return AgentRun.objects.filter(created_at__gte=since)

    register_counter(
        "llm_tokens_per_month",
        lambda since: runs(since).aggregate(n=Sum(F("prompt_tokens") + F("completion_tokens")))["n"],
    )
    register_counter("llm_cost_per_month_usd", lambda since: runs(since).aggregate(n=Sum("cost_usd"))["n"])
    register_counter("knowledge_bytes", lambda since: Document.objects.aggregate(n=Sum("size"))["n"])
    register_counter("knowledge_chunks", lambda since: Document.objects.aggregate(n=Sum("chunks_count"))["n"])
