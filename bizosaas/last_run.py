"""The latest run of each row of a list (agents, workflow configurations) in the list's own query: one subquery
column each, instead of one request or query per row."""

from __future__ import annotations

from django.db.models import Model, OuterRef, QuerySet, Subquery
from rest_framework import serializers


class LastRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    at = serializers.DateTimeField(help_text="When the run was created (started, for workflow runs).")


def with_last_run(queryset: QuerySet, runs: QuerySet, *, owner: str, at: str) -> QuerySet:
    """`queryset` annotated with `last_run_id`, `last_run_status` and `last_run_at` from `runs` (whose `owner`
    field points at the row), latest by `at`."""
    latest = runs.filter(**{owner: OuterRef("pk")}).order_by(f"-{at}", "-pk")
    return queryset.annotate(
        last_run_id=Subquery(latest.values("pk")[:1]),
        last_run_status=Subquery(latest.values("status")[:1]),
        last_run_at=Subquery(latest.values(at)[:1]),
    )


def last_run(obj: Model, runs: QuerySet, *, at: str) -> dict | None:
    """{id, status, at} of the latest run, from the annotation when the row has it, else with one query."""
    if hasattr(obj, "last_run_id"):
        row = {"pk": obj.last_run_id, "status": obj.last_run_status, at: obj.last_run_at}  # type: ignore[attr-defined]
    else:
        row = runs.order_by(f"-{at}", "-pk").values("pk", "status", at).first() or {"pk": None}
    if row["pk"] is None:
        return None
    return {"id": row["pk"], "status": row["status"], "at": row[at]}
