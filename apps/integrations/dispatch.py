"""The engine: from a stored event to everything it causes (deliveries to matching subscriptions, rule
evaluations and their actions), and the sweeper. It hands its work to Celery through apps.integrations.queueing;
when the broker is unreachable nothing is lost: rows stay owed and `sweep` (run by Celery beat) queues them once
it is back. Every function here runs in a tenant schema (the sweeper picks the schemas)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, OuterRef, Q
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django_tenants.utils import schema_context
from prometheus_client import Counter

from apps.accounts.models import Tenant, active_tenant_exists
from apps.integrations import expressions as ex
from apps.integrations import queueing
from apps.integrations.models import ActionRun, Delivery, Event, Rule, RuleRun, Subscription
from apps.integrations.outbound import deliveries_attempt, deliveries_claim, due_rows_claim, subscriptions_matching
from apps.integrations.routing.models import PendingWork
from apps.integrations.rules import ACTION_TYPES, ActionFailed, rule_applies
from bizosaas import work
from bizosaas.bulk import rows_update
from bizosaas.durable import RULE_ACTIONS as DURABLE_RULE_ACTIONS
from bizosaas.durable import start_or_queue
from bizosaas.tenancy import current_schema

logger = logging.getLogger(__name__)

RULE_RUNS = Counter("bizosaas_rule_runs_total", "Rule evaluations and their outcome", ["status"])
RULE_ACTIONS = Counter("bizosaas_rule_actions_total", "Rule actions by type and outcome", ["type", "outcome"])
MAX_FAN_OUT_ATTEMPTS = 5


# --- fan-out -------------------------------------------------------------------------------------------------


def event_process(event_id: int) -> None:
    """Creates the deliveries and rule runs of one event, once (a redelivered task finds it processed)."""
    try:
        fanned = _fan_out([event_id])
    except Exception as exc:
        logger.exception("fan-out failed", extra={"event": event_id})
        Event.objects.filter(pk=event_id, status=Event.Status.PENDING).update(
            attempts=F("attempts") + 1, error=f"{type(exc).__name__}: {exc}"[:500]
        )
        Event.objects.filter(pk=event_id, attempts__gte=MAX_FAN_OUT_ATTEMPTS).update(status=Event.Status.FAILED)
        raise
    _hand_over(fanned)


def events_process(event_ids: list[int]) -> None:
    """Fans out a batch in one transaction: one claim, one insert per kind of row, one update, then the work
    queued in bulk. When that fails, each event is fanned out on its own, so one bad event (recorded on it, retried
    by the sweeper) never holds up the others; the first failure is raised after the rest are done."""
    try:
        fanned = _fan_out(event_ids)
    except Exception:
        logger.warning("batch fan-out failed; fanning out its %s events one by one", len(event_ids), exc_info=True)
        fanned = None
    if fanned is not None:
        _hand_over(fanned)
        return
    failed = None
    for event_id in event_ids:
        try:
            event_process(event_id)
        except Exception as exc:  # recorded on the event by process_event
            failed = exc
    if failed is not None:
        raise failed


@dataclass
class FannedOut:
    deliveries: list[int] = field(default_factory=list)  # marked enqueued in the fan-out's transaction
    actions: list[int] = field(default_factory=list)  # first actions of matched rules, marked enqueued alike
    durable: list[tuple[int, int]] = field(default_factory=list)  # (rule run, its first action) for Temporal


def _hand_over(fanned: FannedOut) -> None:
    queueing.queue_deliveries(fanned.deliveries)
    queueing.queue_actions(fanned.actions)
    for rule_run_id, first_action_id in fanned.durable:
        _start_rule_workflow(rule_run_id, first_action_id)


def _start_rule_workflow(rule_run_id: int, first_action_id: int) -> None:
    """Hands a durable rule's actions to the `rule_actions` workflow; when Temporal cannot take them, the task
    queue runs them from the first action instead."""
    run = RuleRun.objects.select_related("rule").get(pk=rule_run_id)
    workflow_id = start_or_queue(
        DURABLE_RULE_ACTIONS,
        partial(queueing.enqueue_action, first_action_id),
        what=f"rule run {rule_run_id}",
        tenant=Tenant.objects.get(schema_name=current_schema()),
        rule_run=run,
    )
    if workflow_id is not None:
        RuleRun.objects.filter(pk=rule_run_id).update(workflow_id=workflow_id)


@transaction.atomic
def _fan_out(event_ids: list[int]) -> FannedOut:
    """The deliveries and rule runs of the pending events among `event_ids` (those another worker holds are
    skipped), written in bulk; the events are marked processed in the same transaction."""
    fanned = FannedOut()
    events = list(
        Event.objects.select_for_update(skip_locked=True)
        .filter(pk__in=event_ids, status=Event.Status.PENDING)
        .order_by("pk")
    )
    if not events:
        return fanned
    now = timezone.now()
    connection_ids = {event.connection_id for event in events if event.connection_id is not None}
    subscriptions = list(
        Subscription.objects.filter(enabled=True)
        .filter(Q(connection__isnull=True) | Q(connection_id__in=connection_ids))
        .order_by("pk")
    )
    rules = list(Rule.objects.filter(enabled=True).order_by("id"))
    # What an earlier try wrote is skipped. An event never fanned out (attempts 0) has nothing yet: a fan-out
    # writes its rows and counts the attempt in one transaction, and nothing else writes them for a pending event.
    retried = [event for event in events if event.attempts]
    existing = set(
        Delivery.objects.filter(event__in=retried, subscription__in=subscriptions).values_list(
            "event_id", "subscription_id"
        )
        if retried and subscriptions
        else ()
    )
    evaluated = set(
        RuleRun.objects.filter(event__in=retried).values_list("event_id", "rule_id") if retried and rules else ()
    )

    deliveries, rule_runs, matched = [], [], []
    for event in events:
        for subscription in subscriptions_matching(subscriptions, event):
            if (event.pk, subscription.pk) not in existing:
                deliveries.append(
                    Delivery(event=event, subscription=subscription, next_attempt_at=now, enqueued_at=now)
                )
        context = ex.event_context(event) if rules else {}  # read by the rules only
        for rule in rules:
            if (event.pk, rule.pk) in evaluated:
                continue
            if not rule_applies(rule, event_type=event.type, connection_id=event.connection_id):
                continue
            evaluation = ex.evaluate(rule.match, rule.conditions, context)
            rule_runs.append(
                RuleRun(
                    rule=rule,
                    event=event,
                    matched=evaluation.matched,
                    condition_results=evaluation.results,
                    status=RuleRun.Status.RUNNING if evaluation.matched else RuleRun.Status.NO_MATCH,
                    finished_at=None if evaluation.matched else now,
                )
            )
    fanned.deliveries = [delivery.pk for delivery in Delivery.objects.bulk_create(deliveries)]
    RuleRun.objects.bulk_create(rule_runs)
    action_runs = []
    for run in rule_runs:
        RULE_RUNS.labels("matched" if run.matched else "no_match").inc()
        if not run.matched:
            continue
        matched.append(run)
        for index, action in enumerate(run.rule.actions):
            first = index == 0
            action_runs.append(
                ActionRun(
                    rule_run=run,
                    position=index,
                    type=action["type"],
                    definition=action,
                    idempotency_key=f"{run.rule.pk}:{run.event.uid.hex}:{index}",
                    status=ActionRun.Status.PENDING if first else ActionRun.Status.WAITING,
                    next_attempt_at=now if first else None,
                    enqueued_at=now if first and not run.rule.durable else None,
                )
            )
    ActionRun.objects.bulk_create(action_runs)
    firsts = {action.rule_run_id: action.pk for action in action_runs if action.position == 0}
    for run in matched:
        if run.pk not in firsts:
            continue  # a rule without actions (not accepted by the API; defensive)
        if run.rule.durable:
            fanned.durable.append((run.pk, firsts[run.pk]))
        else:
            fanned.actions.append(firsts[run.pk])
    Event.objects.filter(pk__in=[event.pk for event in events]).update(
        status=Event.Status.PROCESSED, processed_at=now, attempts=F("attempts") + 1, error=""
    )
    return fanned


# --- deliveries ----------------------------------------------------------------------------------------------


def delivery_send(delivery_id: int, trigger: str = "scheduled") -> None:
    deliveries = deliveries_claim([delivery_id])
    if deliveries:
        deliveries_attempt(deliveries, trigger=trigger)  # leaves the instance in the state it wrote
        _sent(deliveries)


def deliveries_send(delivery_ids: list[int]) -> None:
    """Sends the due ones of the deliveries at once: one claim, the POSTs together, the outcomes written together.
    Beyond DELIVERY_BATCH_SIZE the rest go back to the queue as batches of their own (a task stays within one
    delivery's deadline)."""
    size = settings.DELIVERY_BATCH_SIZE
    batch, rest = delivery_ids[:size], delivery_ids[size:]
    if rest:
        queueing.queue_deliveries(rest)
    deliveries = deliveries_claim(batch)
    if deliveries:
        deliveries_attempt(deliveries)  # leaves each instance in the state it wrote
        _sent(deliveries)


def _sent(deliveries: list[Delivery]) -> None:
    """Queues the next try of those deliveries that are due again soon (later ones are the sweeper's)."""
    for delivery in deliveries:
        if delivery.status == Delivery.Status.PENDING and delivery.next_attempt_at:
            wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
            if wait <= settings.INTEGRATIONS_REQUEUE_AFTER_SECONDS:
                queueing.enqueue_delivery(delivery.pk, countdown=max(0.0, wait))


# --- actions -------------------------------------------------------------------------------------------------


def action_run_perform(action_run_id: int, *, durable: bool = False) -> None:
    """Performs one due action run at most once. `durable`: the `rule_actions` workflow drives the order and the
    retries, so nothing is queued on Celery from here."""
    runs = _claim_actions([action_run_id])
    if runs:
        ok, result = _perform(runs[0], _lazy_tenant(), durable=durable)
        if ok:
            _actions_succeeded([(runs[0], result)], durable=durable)


def action_runs_perform(action_run_ids: list[int]) -> None:
    """Performs the due ones of the action runs, in order, each at most once: one claim for them all, their
    successes written together, and the deliveries and next actions they queue handed over in bulk at the end.
    After TENANT_WORK_SLICE_SECONDS no further action is started (one slow connector call cannot stretch the
    batch past its time limit); the rest are given back unperformed and queued again, as are those beyond
    ACTION_BATCH_SIZE."""
    size = settings.ACTION_BATCH_SIZE
    if len(action_run_ids) > size:
        queueing.queue_actions(action_run_ids[size:])
    runs = _claim_actions(action_run_ids[:size])
    if not runs:
        return
    tenant, ends = _lazy_tenant(), time.monotonic() + settings.TENANT_WORK_SLICE_SECONDS
    succeeded, left = [], []
    token = queueing.collected_deliveries.set([])
    try:
        for index, run in enumerate(runs):
            if index and time.monotonic() >= ends:
                left = runs[index:]
                break
            ok, result = _perform(run, tenant, durable=False)
            if ok:
                succeeded.append((run, result))
        _actions_succeeded(succeeded, durable=False)
    finally:
        deliveries = queueing.collected_deliveries.get() or []  # the list set above
        queueing.collected_deliveries.reset(token)
        queueing.queue_deliveries(deliveries)
        if left:
            _give_back([run.pk for run in left])


def _lazy_tenant():
    return SimpleLazyObject(partial(Tenant.objects.get, schema_name=current_schema()))  # read only if an action uses it


def _claim_actions(action_run_ids: list[int]) -> list[ActionRun]:
    """Marks those of the action runs that are pending and due as running (one statement) and loads them with their
    rule run, rule and event (one more), in the order given; the others are left alone."""
    if not action_run_ids:
        return []
    claimed = due_rows_claim(ActionRun, action_run_ids, ActionRun.Status.RUNNING, "started_at", count_attempt=True)
    if not claimed:
        return []
    runs = ActionRun.objects.select_related("rule_run__rule", "rule_run__event").in_bulk(claimed)
    return [runs[pk] for pk in action_run_ids if pk in runs]


def _give_back(action_run_ids: list[int]) -> None:
    """Claimed action runs not performed: pending again as they were (their claim uncounted), and queued."""
    ActionRun.objects.filter(pk__in=action_run_ids, status=ActionRun.Status.RUNNING).update(
        status=ActionRun.Status.PENDING, started_at=None, attempts=F("attempts") - 1, enqueued_at=timezone.now()
    )
    queueing.queue_actions(action_run_ids)


def _perform(run: ActionRun, tenant, *, durable: bool) -> tuple[bool, dict | None]:
    """Performs a claimed action run: (True, its result), or (False, None) once its failure is recorded."""
    rule_run = run.rule_run
    action_type = ACTION_TYPES.get(run.type)
    context = ex.event_context(rule_run.event)
    try:
        if action_type is None:
            raise ActionFailed(f"Action type {run.type!r} is no longer available.")
        planned = action_type.plan(run.definition, context)
        run.input = planned.get("input", {})
        result = action_type.perform(
            run.definition,
            planned,
            tenant=tenant,
            rule=rule_run.rule,
            event=rule_run.event,
            idempotency_key=run.idempotency_key,
            first_attempt=run.attempts <= 1,  # counted by the claim; a run given back unperformed is uncounted
        )
    except ActionFailed as exc:
        _action_failed(run, exc, queue=not durable)
        return False, None
    except Exception as exc:
        logger.exception("rule action crashed", extra={"action_run": run.pk})
        _action_failed(run, ActionFailed(f"{type(exc).__name__}: {exc}", retryable=True), queue=not durable)
        return False, None
    return True, result


def _actions_succeeded(done: list[tuple[ActionRun, dict | None]], *, durable: bool) -> None:
    """Records performed action runs as succeeded, then per rule run: its next action made due (and queued unless
    `durable`), or the rule run succeeded when that was its last. A few statements whatever the number."""
    if not done:
        return
    now = timezone.now()
    for run, result in done:
        RULE_ACTIONS.labels(run.type, "succeeded").inc()
        run.status, run.finished_at, run.result, run.error = ActionRun.Status.SUCCEEDED, now, result, ""
    if len(done) == 1:
        run = done[0][0]
        ActionRun.objects.filter(pk=run.pk).update(
            status=run.status, finished_at=now, result=run.result, input=run.input, error=""
        )
    else:
        rows_update([run for run, _ in done], ["status", "finished_at", "result", "input", "error"])
    wanted = {(run.rule_run_id, run.position + 1) for run, _ in done}
    following = [
        (rule_run_id, pk)
        for pk, rule_run_id, position in ActionRun.objects.filter(
            rule_run_id__in={rule_run_id for rule_run_id, _ in wanted}
        ).values_list("pk", "rule_run_id", "position")
        if (rule_run_id, position) in wanted
    ]
    finished = {rule_run_id for rule_run_id, _ in wanted} - {rule_run_id for rule_run_id, _ in following}
    if finished:
        RuleRun.objects.filter(pk__in=finished).update(status=RuleRun.Status.SUCCEEDED, finished_at=now)
        RULE_RUNS.labels("succeeded").inc(len(finished))
    if not following:
        return
    made_due = ActionRun.objects.filter(pk__in=[pk for _, pk in following], status=ActionRun.Status.WAITING)
    if durable:
        made_due.update(status=ActionRun.Status.PENDING, next_attempt_at=now)
        return
    made_due.update(status=ActionRun.Status.PENDING, next_attempt_at=now, enqueued_at=now)
    queueing.queue_actions([pk for _, pk in following])


def _action_failed(run: ActionRun, exc: ActionFailed, *, queue: bool = True) -> None:
    now = timezone.now()
    if exc.retryable and run.attempts < settings.RULE_ACTION_MAX_ATTEMPTS:
        delay = settings.RULE_ACTION_BACKOFF_SECONDS * (2 ** (run.attempts - 1))
        if exc.retry_after is not None and math.isfinite(exc.retry_after):
            delay = max(delay, exc.retry_after)
        RULE_ACTIONS.labels(run.type, "retrying").inc()
        ActionRun.objects.filter(pk=run.pk).update(
            status=ActionRun.Status.PENDING,
            next_attempt_at=now + timedelta(seconds=delay),
            error=exc.message[:500],
            input=run.input,
            enqueued_at=None,
        )
        if queue and delay <= settings.INTEGRATIONS_REQUEUE_AFTER_SECONDS:
            queueing.enqueue_action(run.pk, countdown=delay)
        return
    RULE_ACTIONS.labels(run.type, "failed").inc()
    ActionRun.objects.filter(pk=run.pk).update(
        status=ActionRun.Status.FAILED, finished_at=now, error=exc.message[:500], input=run.input
    )
    ActionRun.objects.filter(rule_run_id=run.rule_run_id, position__gt=run.position).update(
        status=ActionRun.Status.SKIPPED, finished_at=now
    )
    RuleRun.objects.filter(pk=run.rule_run_id).update(
        status=RuleRun.Status.FAILED,
        finished_at=now,
        error=f"Action {run.position + 1} ({run.type}): {exc.message}"[:500],
    )
    RULE_RUNS.labels("failed").inc()


# --- the sweeper ---------------------------------------------------------------------------------------------


def schema_sweep() -> dict[str, int]:
    """Re-queues what the broker never got (or lost) in the current tenant schema; returns counts."""
    now = timezone.now()
    requeue = now - timedelta(seconds=settings.INTEGRATIONS_REQUEUE_AFTER_SECONDS)
    not_recent = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue)
    counts = {"events": 0, "deliveries": 0, "actions": 0, "stale": 0}
    schema = current_schema()
    events = Event.objects.filter(
        not_recent,
        status=Event.Status.PENDING,
        received_at__lt=now - timedelta(seconds=settings.INTEGRATIONS_EVENT_GRACE_SECONDS),
    ).values_list("pk", flat=True)[:1000]
    event_ids = list(events)
    for start in range(0, len(event_ids), 200):
        batch = event_ids[start : start + 200]
        if queueing.publish_batch(schema, batch):
            Event.objects.filter(pk__in=batch).update(enqueued_at=now)
            counts["events"] += len(batch)
    stale_send = now - timedelta(seconds=settings.DELIVERY_STALE_SECONDS)  # past its task's hard limit
    counts["stale"] += Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=stale_send).update(
        status=Delivery.Status.PENDING, next_attempt_at=now, enqueued_at=None
    )
    # a tenant with parked work of a class gets it as its share frees up (bizosaas.work), not queued twice
    if not work.parked_count(work.DELIVERIES, schema):
        due = Delivery.objects.filter(not_recent, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        due_ids = list(due.values_list("pk", flat=True).order_by("next_attempt_at", "pk")[:1000])
        if due_ids:
            Delivery.objects.filter(pk__in=due_ids).update(enqueued_at=now)
            counts["deliveries"] += len(due_ids) if queueing.queue_deliveries(due_ids) else 0
    if not work.parked_count(work.ACTIONS, schema):
        due_actions = ActionRun.objects.filter(
            not_recent, status=ActionRun.Status.PENDING, next_attempt_at__lte=now, rule_run__workflow_id=""
        )  # a durable rule's workflow runs its own actions
        action_ids = list(due_actions.values_list("pk", flat=True).order_by("next_attempt_at", "pk")[:1000])
        if action_ids:
            ActionRun.objects.filter(pk__in=action_ids).update(enqueued_at=now)
            counts["actions"] += len(action_ids) if queueing.queue_actions(action_ids) else 0
    # An action whose worker died while performing it may or may not have happened: it is not run again.
    for run in ActionRun.objects.filter(
        status=ActionRun.Status.RUNNING, started_at__lt=now - timedelta(seconds=settings.RULE_ACTION_STALE_SECONDS)
    ):
        counts["stale"] += 1
        _action_failed(run, ActionFailed("Interrupted while running (worker lost); not repeated, check the target."))
    return counts


def owed_schemas(now=None) -> list[str]:
    """The active tenant schemas where the sweeper may have something to do, oldest work first, read from the
    public index of owed work (PendingWork, kept by triggers): an event past its grace, a delivery or action that
    is due, or one sent or performed for longer than its task may run. At most SWEEP_MAX_SCHEMAS a pass; with
    nothing owed this is one indexed query whatever the number of tenants."""
    now = now or timezone.now()
    kinds = PendingWork.Kind
    owed = (
        Q(kind=kinds.EVENT, state="pending", at__lt=now - timedelta(seconds=settings.INTEGRATIONS_EVENT_GRACE_SECONDS))
        | Q(kind=kinds.DELIVERY, state="pending", at__lte=now)
        | Q(kind=kinds.DELIVERY, state="sending", at__lt=now - timedelta(seconds=settings.DELIVERY_STALE_SECONDS))
        | Q(kind=kinds.ACTION, state="pending", at__lte=now)
        | Q(kind=kinds.ACTION, state="running", at__lt=now - timedelta(seconds=settings.RULE_ACTION_STALE_SECONDS))
    )
    rows = (
        PendingWork.objects.filter(owed, active_tenant_exists(OuterRef("schema_name")))
        .values("schema_name")
        .annotate(oldest=Min("at"))
        .order_by("oldest")[: settings.SWEEP_MAX_SCHEMAS]
    )
    return [row["schema_name"] for row in rows]


def sweep() -> dict[str, int]:
    queueing.broker_pause_reset()
    totals = {"events": 0, "deliveries": 0, "actions": 0, "stale": 0, "unparked": work.unpark_due(), "schemas": 0}
    for schema in owed_schemas():
        totals["schemas"] += 1
        with schema_context(schema):
            for key, value in schema_sweep().items():
                totals[key] += value
    return totals
