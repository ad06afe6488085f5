"""Workflow configurations, runs and approvals. Called inside the tenant's schema (the API's request or
`schema_context`); Temporal is reached through apps.workflows.client.

The database is the source of truth for schedules: each save pushes the config's schedule to Temporal at once
(a 503 with the config kept and `schedule_error` set when Temporal fails), and `reconcile` repairs whatever
drifted since (a crash between the two writes, a schedule edited or deleted behind our back)."""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts import quotas
from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.agents.approvals import starter_may_not_decide
from apps.workflows import client
from apps.workflows.models import WorkflowApproval, WorkflowConfig, WorkflowRun
from apps.workflows.templates import TEMPLATES, clean_parameters
from bizosaas import durable
from bizosaas.digits import ascii_digits
from bizosaas.metrics import WORKFLOW_RUNS
from bizosaas.tenancy import current_schema

ACTIVE = (WorkflowRun.Status.RUNNING, WorkflowRun.Status.WAITING_APPROVAL)
CONFIG_FIELDS = ("name", "template", "parameters", "schedule_cron", "timezone", "overlap_policy", "enabled")


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "user" and ascii_digits(str(actor.id)) else None


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def clean_config(data: dict, *, partial_of: WorkflowConfig | None = None) -> dict:
    """The config's fields, validated: parameters against the template (in the current tenant), a five-field cron
    (empty: manual only), an IANA time zone. ValidationError keyed by field."""
    current = {name: getattr(partial_of, name) for name in CONFIG_FIELDS} if partial_of else {}
    values = {**current, **{k: v for k, v in data.items() if k in CONFIG_FIELDS}}
    errors: dict[str, list[str]] = {}
    name = str(values.get("name") or "").strip()
    if not name:
        errors["name"] = ["This field is required."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    cleaned: dict = {"name": name}
    template = values.get("template")
    if partial_of is not None and template != partial_of.template:
        errors["template"] = ["The template of a configuration cannot change; create a new one."]
    else:
        try:
            cleaned["parameters"] = clean_parameters(template, values.get("parameters") or {})  # type: ignore[arg-type]
        except ValidationError as exc:
            errors.update(exc.message_dict)
        cleaned["template"] = template
    cleaned["schedule_cron"], cleaned["timezone"] = schedule_fields(values, errors)
    overlap = values.get("overlap_policy") or WorkflowConfig.Overlap.SKIP
    if overlap not in WorkflowConfig.Overlap.values:
        errors["overlap_policy"] = [f"One of: {', '.join(WorkflowConfig.Overlap.values)}."]
    cleaned["overlap_policy"] = overlap
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = ["true or false."]
    cleaned["enabled"] = enabled
    if errors:
        raise ValidationError(errors)
    return cleaned


def _sync_schedule(config: WorkflowConfig, *, had_schedule: bool) -> None:
    """Pushes the config's schedule to Temporal (or removes it when the config became manual only). On failure the
    error is kept on the row for the API and `reconcile`, and a 503 says what happened."""
    try:
        if config.schedule_cron:
            client.schedule_upsert(current_schema(), config)
        elif had_schedule:
            client.schedule_delete(current_schema(), config.pk)
    except client.TemporalUnavailable as exc:
        WorkflowConfig.objects.filter(pk=config.pk).update(schedule_error=str(exc.detail)[:500])
        config.refresh_from_db()
        raise client.TemporalUnavailable(
            f"The configuration was saved, but its schedule could not be updated in Temporal: {exc.detail} It is "
            "retried by the reconcile command; until then the schedule may be stale.",
            config=config.pk,
        ) from exc
    WorkflowConfig.objects.filter(pk=config.pk).update(schedule_synced_at=timezone.now(), schedule_error="")
    config.refresh_from_db()


def schedules_follow_tenant(tenant: Tenant) -> None:
    """Pauses every schedule of a suspended tenant, or resumes those of an active one (a disabled config stays
    paused). Called after the status change commits; a schedule Temporal could not update keeps the error on its
    config, and `reconcile` for the schema puts it right."""
    with schema_context(tenant.schema_name):
        for config in WorkflowConfig.objects.exclude(schedule_cron="").filter(template__in=list(TEMPLATES)):
            try:
                client.schedule_upsert(tenant.schema_name, config)
            except client.TemporalUnavailable as exc:
                WorkflowConfig.objects.filter(pk=config.pk).update(schedule_error=str(exc.detail)[:500])
                continue
            WorkflowConfig.objects.filter(pk=config.pk).update(schedule_synced_at=timezone.now(), schedule_error="")


def config_create(*, tenant: Tenant, actor: Actor, data: dict) -> WorkflowConfig:
    """Creates a configuration and its Temporal schedule (when it has a cron)."""
    cleaned = clean_config(data)
    with transaction.atomic():
        quotas.check_capacity(tenant, "workflow_configs")
        config = WorkflowConfig.objects.create(**cleaned, created_by_id=_user_id(actor))
        audit_record(
            tenant=tenant,
            actor=actor,
            action="workflow_config.created",
            obj=config,
            changes={"template": config.template, "schedule_cron": config.schedule_cron, "timezone": config.timezone},
        )
    _sync_schedule(config, had_schedule=False)
    return config


def config_update(*, tenant: Tenant, actor: Actor, config: WorkflowConfig, data: dict) -> WorkflowConfig:
    """Changes a configuration; its schedule follows (replaced, paused when disabled, removed when manual only)."""
    cleaned = clean_config(data, partial_of=config)
    had_schedule = bool(config.schedule_cron)
    before = {name: getattr(config, name) for name in CONFIG_FIELDS}
    for name, value in cleaned.items():
        setattr(config, name, value)
    config.save()
    changes = {k: [before[k], cleaned[k]] for k in cleaned if before[k] != cleaned[k]}
    audit_record(tenant=tenant, actor=actor, action="workflow_config.updated", obj=config, changes=changes)
    _sync_schedule(config, had_schedule=had_schedule)
    return config


def config_delete(*, tenant: Tenant, actor: Actor, config: WorkflowConfig) -> None:
    """Deletes the schedule, then the configuration. When Temporal fails the configuration stays (503), so the
    schedule is never left firing for a configuration that no longer exists."""
    try:
        if config.schedule_cron or config.schedule_error:  # a manual-only config never had one left behind
            client.schedule_delete(current_schema(), config.pk)
    except client.TemporalUnavailable as exc:
        WorkflowConfig.objects.filter(pk=config.pk).update(schedule_error=str(exc.detail)[:500])
        raise client.TemporalUnavailable(
            f"The configuration was not deleted: its schedule could not be removed from Temporal. {exc.detail}"
        ) from exc
    audit_record(
        tenant=tenant, actor=actor, action="workflow_config.deleted", obj=config, changes={"name": config.name}
    )
    config.delete()


def schedule_fields(values: dict, errors: dict) -> tuple[str, str]:
    """The cron expression (whitespace normalised; empty: manual only) and time zone of `values`; problems are
    added to `errors` by field."""
    cron = " ".join(str(values.get("schedule_cron") or "").split())
    if cron and (len(cron.split(" ")) != 5 or not croniter.is_valid(cron)):
        errors["schedule_cron"] = [
            "A cron expression of five fields (minute hour day-of-month month day-of-week), e.g. "
            "'0 9 * * 6,0' for weekends at 09:00; leave empty to run manually only."
        ]
    tz = values.get("timezone") or "UTC"
    if not isinstance(tz, str) or tz not in _zones():
        errors["timezone"] = ["An IANA time zone such as Europe/Berlin or UTC."]
    return cron, tz


def schedule_preview(values: dict, count: int = 5) -> list[datetime]:
    """The next start times of a schedule not saved yet (the schedule editor's preview)."""
    errors: dict[str, list[str]] = {}
    cron, tz = schedule_fields(values, errors)
    if errors:
        raise ValidationError(errors)
    return next_runs(WorkflowConfig(schedule_cron=cron, timezone=tz, enabled=True), count)


def next_runs(config: WorkflowConfig, count: int = 5, *, after: datetime | None = None) -> list[datetime]:
    """The next `count` start times of a scheduled, enabled config, in its own time zone ([] otherwise)."""
    if not config.schedule_cron or not config.enabled:
        return []
    try:
        zone = zoneinfo.ZoneInfo(config.timezone)
        iterator = croniter(config.schedule_cron, (after or timezone.now()).astimezone(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, KeyError):
        return []
    return [iterator.get_next(datetime) for _ in range(count)]


# --- runs ----------------------------------------------------------------------------------------------------


def _start(
    *,
    tenant: Tenant,
    actor: Actor,
    template: str,
    params: dict,
    config: WorkflowConfig | None,
    trigger: str,
    action: str,
    audit_changes: dict,
    workflow_id: str | None = None,
) -> WorkflowRun:
    schema = current_schema()
    user_id = _user_id(actor)
    workflow_id = workflow_id or client.new_workflow_id(schema, config.pk if config else None)
    # the row exists before the workflow does, so the caller sees it at once; the workflow's first activity
    # (workflows.start_record) finds it by workflow_id
    run = WorkflowRun.objects.create(
        config=config,
        template=template,
        workflow_id=workflow_id,
        trigger=trigger,
        status=WorkflowRun.Status.RUNNING,
        parameters=params,
        created_by_id=user_id,
    )
    payload = client.workflow_input(
        schema=schema,
        config_id=config.pk if config else None,
        template=template,
        params=params,
        trigger=trigger,
        user_id=user_id,
    )
    try:
        run_id = client.workflow_start(workflow_id=workflow_id, input=payload)
    except client.TemporalUnavailable:
        run.delete()
        raise
    WorkflowRun.objects.filter(pk=run.pk, temporal_run_id="").update(temporal_run_id=run_id)
    run.refresh_from_db()
    audit_record(tenant=tenant, actor=actor, action=action, obj=run, changes=audit_changes)
    return run


def run_now(
    *, tenant: Tenant, actor: Actor, config: WorkflowConfig, trigger: str = "manual", workflow_id: str | None = None
) -> WorkflowRun:
    """Starts the configured workflow now, whether the config is scheduled, manual only or disabled. A given
    `workflow_id` makes the start idempotent (Temporal refuses a second workflow with the same id)."""
    return _start(
        workflow_id=workflow_id,
        tenant=tenant,
        actor=actor,
        template=config.template,
        params=config.parameters,
        config=config,
        trigger=trigger,
        action="workflow.started",
        audit_changes={"config": config.pk, "trigger": trigger},
    )


def start_agent_run(*, tenant: Tenant, actor: Actor, agent_run) -> WorkflowRun:
    """Executes a queued agent run durably (the `agent_run` template): for long runs, which then survive worker
    restarts and show up with the other workflow runs."""
    run = _start(
        tenant=tenant,
        actor=actor,
        template="agent_run",
        params={"agent": agent_run.agent_id, "input": agent_run.input, "agent_run_id": agent_run.pk},
        config=None,
        trigger=WorkflowRun.Trigger.API,
        action="workflow.started",
        audit_changes={"agent_run": agent_run.pk},
    )
    WorkflowRun.objects.filter(pk=run.pk).update(agent_run_id=agent_run.pk)
    run.refresh_from_db()
    return run


def register_durable_kinds() -> None:
    """The durable work the apps below this one start through bizosaas.durable: a durable rule's actions and a
    long agent run."""
    durable.register(
        durable.RULE_ACTIONS,
        start=lambda *, tenant, rule_run: start_rule_actions(tenant=tenant, rule_run=rule_run).workflow_id,
    )
    durable.register(
        durable.AGENT_RUN,
        start=lambda *, tenant, actor, agent_run: (
            start_agent_run(tenant=tenant, actor=actor, agent_run=agent_run).workflow_id
        ),
        running=lambda *, agent_run_id: WorkflowRun.objects.filter(
            agent_run_id=agent_run_id, status=WorkflowRun.Status.RUNNING
        ).exists(),
    )


def start_rule_actions(*, tenant: Tenant, rule_run) -> WorkflowRun:
    """Runs a durable rule's matched actions as the `rule_actions` workflow (ordered, retried, surviving worker
    restarts); the workflow id derives from the rule run, so a second start for it is refused by Temporal."""
    workflow_id = f"wf-{current_schema()}-rule-run-{rule_run.pk}"
    existing = WorkflowRun.objects.filter(workflow_id=workflow_id).first()
    if existing is not None:
        return existing
    return _start(
        tenant=tenant,
        actor=Actor.system(f"rule {rule_run.rule_id}: {rule_run.rule.name}"),
        template="rule_actions",
        params={"rule_run_id": rule_run.pk},
        config=None,
        trigger=WorkflowRun.Trigger.RULE,
        action="workflow.started",
        audit_changes={"rule_run": rule_run.pk},
        workflow_id=workflow_id,
    )


def run_cancel(*, tenant: Tenant, actor: Actor, run: WorkflowRun) -> WorkflowRun:
    """Asks Temporal to cancel a running (or approval-waiting) run; the row shows it cancelled at once."""
    if run.status not in ACTIVE:
        raise ValidationError({"status": [f"Only a running run can be cancelled; this one is {run.status}."]})
    try:
        client.workflow_cancel(run.workflow_id)
    except client.WorkflowGone as exc:
        raise ValidationError({"status": ["This run already finished in Temporal."]}) from exc
    label = actor.label or actor.type
    cancelled = WorkflowRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=WorkflowRun.Status.CANCELLED, error=f"Cancelled by {label}."[:1000], finished_at=timezone.now()
    )
    if cancelled:
        WORKFLOW_RUNS.labels(template=run.template, status=WorkflowRun.Status.CANCELLED).inc()
    run.approvals.filter(status=WorkflowApproval.Status.PENDING).update(
        status=WorkflowApproval.Status.EXPIRED, decided_at=timezone.now()
    )
    audit_record(tenant=tenant, actor=actor, action="workflow.cancelled", obj=run, changes={})
    run.refresh_from_db()
    return run


def run_retry(*, tenant: Tenant, actor: Actor, run: WorkflowRun) -> WorkflowRun:
    """Starts a new run of a finished run's template with the same parameters (checked again: a connection may
    have gone since)."""
    if run.status in ACTIVE:
        raise ValidationError({"status": ["This run is still going; cancel it first or wait for it to finish."]})
    if run.template not in TEMPLATES:
        raise ValidationError({"template": [f"The template {run.template!r} no longer exists."]})
    params = clean_parameters(run.template, run.parameters)
    return _start(
        tenant=tenant,
        actor=actor,
        template=run.template,
        params=params,
        config=run.config,
        trigger=WorkflowRun.Trigger.MANUAL,
        action="workflow.retried",
        audit_changes={"retry_of": run.pk},
    )


# --- approvals -----------------------------------------------------------------------------------------------


def approval_decide(
    *, tenant: Tenant, actor: Actor, approval: WorkflowApproval, approved: bool, comment: str = ""
) -> WorkflowApproval:
    """Approves or rejects a pending approval: the waiting workflow gets the "decide" signal, and who decided is
    recorded on the approval and in the audit log. Only once: a decided or expired approval is refused."""
    comment = (comment or "").strip()[:500]
    user_id = _user_id(actor)
    gone = False
    with transaction.atomic():
        locked = WorkflowApproval.objects.select_for_update().select_related("run").get(pk=approval.pk)
        starter_may_not_decide(tenant=tenant, actor=actor, started_by_user_id=locked.run.created_by_id)
        if locked.status != WorkflowApproval.Status.PENDING:
            raise ValidationError({"status": [f"Only a pending approval can be decided; this one is {locked.status}."]})
        if locked.expires_at is not None and locked.expires_at <= timezone.now():
            raise ValidationError({"status": ["This approval has expired."]})
        try:
            client.workflow_signal(
                locked.run.workflow_id, "decide", {"approved": approved, "user_id": user_id, "comment": comment}
            )
        except client.WorkflowGone:
            gone = True
            locked.status = WorkflowApproval.Status.EXPIRED
            locked.save(update_fields=["status"])
        else:
            locked.status = WorkflowApproval.Status.APPROVED if approved else WorkflowApproval.Status.REJECTED
            locked.decided_at = timezone.now()
            locked.decided_by_id = user_id
            locked.comment = comment
            locked.save(update_fields=["status", "decided_at", "decided_by_id", "comment"])
    if gone:
        raise ValidationError({"status": ["The run is no longer waiting for this approval."]})
    audit_record(
        tenant=tenant,
        actor=actor,
        action="workflow.approved" if approved else "workflow.rejected",
        obj=locked,
        changes={"run": locked.run_id, "step": locked.step, "comment": comment, "decided_by": actor.label},
    )
    return locked


# --- reconcile -----------------------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def fixed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "errors": self.errors,
        }


def _reconcile_schema(schema: str, report: ReconcileReport, expected: set[str]) -> None:
    with schema_context(schema):
        configs = list(WorkflowConfig.objects.exclude(schedule_cron="").filter(template__in=list(TEMPLATES)))
        for config in configs:
            sid = client.schedule_id(schema, config.pk)
            expected.add(sid)
            try:
                described = client.schedule_describe(schema, config.pk)
                if described is None:
                    client.schedule_upsert(schema, config)
                    report.created.append(sid)
                elif described["shape"] != client.desired_shape(schema, config):
                    client.schedule_upsert(schema, config)
                    report.updated.append(sid)
                else:
                    report.unchanged += 1
                    continue
            except client.TemporalUnavailable as exc:
                report.errors[sid] = str(exc.detail)
                WorkflowConfig.objects.filter(pk=config.pk).update(schedule_error=str(exc.detail)[:500])
                continue
            WorkflowConfig.objects.filter(pk=config.pk).update(schedule_synced_at=timezone.now(), schedule_error="")


def reconcile(schema: str | None = None, *, on_tenant=None) -> ReconcileReport:
    """Makes Temporal's `wf-` schedules match the configurations of every active tenant (or of one schema):
    missing schedules are created, drifted ones replaced, and schedules without a configuration (or of a tenant
    that no longer exists) deleted. Schedules of suspended tenants are left alone. Idempotent."""
    tenants = Tenant.objects.exclude(schema_name="public")
    known = set(tenants.values_list("schema_name", flat=True))
    if schema is None:
        schemas = list(
            tenants.filter(status=Tenant.Status.ACTIVE).order_by("slug").values_list("schema_name", flat=True)
        )
    else:
        schemas = [schema]
    report = ReconcileReport()
    expected: set[str] = set()
    for name in schemas:
        _reconcile_schema(name, report, expected)
        if on_tenant is not None:
            on_tenant(name)
    covered = set(schemas)
    try:
        existing = client.schedule_ids(f"{client.SCHEDULE_PREFIX}{schema}-" if schema else client.SCHEDULE_PREFIX)
    except client.TemporalUnavailable as exc:
        report.errors["list"] = str(exc.detail)
        return report
    for sid in existing:
        parsed = client.parse_schedule_id(sid)
        if parsed is None or sid in expected:
            continue
        owner = parsed[0]
        if owner in covered or owner not in known:
            try:
                if client.schedule_delete_id(sid):
                    report.deleted.append(sid)
            except client.TemporalUnavailable as exc:
                report.errors[sid] = str(exc.detail)
    return report
