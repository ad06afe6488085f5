"""Work classes: each kind of background work has its own Celery queue, its own workers, time limits, and a cap
on how many of one tenant's tasks run at once across every worker.

A task of a class declares it with `@shared_task(base=TenantTask, queue=<class>, ...)`; its first argument is the
tenant schema, as every tenant task's is. When the tenant already has its share in flight (`in_flight_limit`), the
task is parked in a Redis list of that tenant and class and the worker takes the next task of the queue: a
tenant's backlog waits behind itself, never in front of other tenants, and never occupies a worker or churns
through the broker while it waits. Each task of the tenant that finishes sends the next parked one back to the
queue; the sweeper (`unpark_due`) also releases parked work whenever a share has room, so nothing depends on a
single hand-over. The database row behind the task (a pending delivery, action run, event or document) stays the
promise: if Redis loses the parked list, the sweeper queues the row again.

A backlogged tenant's short tasks (fan-out, deliveries, actions: `chain_parked`) are run on: a task that finishes
takes the tenant's next parked task and runs it in the same worker process, under the lease it holds, until
TENANT_WORK_SLICE_SECONDS have passed; then it hands the worker back. That spares each waiting task a trip through
the broker, a worker hand-off and a lease of its own, which is most of what a delivery to a fast endpoint costs.
The slice is the fairness: another tenant's task waits for a worker at most one slice and one task. Parked fan-out
batches and delivery batches (`merge_ids`) are run as one batch (deliveries up to DELIVERY_BATCH_SIZE, their POSTs
together). Agent runs and ingestion are long and never chained.
"""

from __future__ import annotations

import json
import logging
import time

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from prometheus_client import Counter

from apps.accounts.quotas import in_flight_override
from bizosaas import leases
from bizosaas.celery import app

logger = logging.getLogger(__name__)

FANOUT, DELIVERIES, ACTIONS, AGENTS, INGESTION = "fanout", "deliveries", "actions", "agents", "ingestion"
WORK_CLASSES = (FANOUT, DELIVERIES, ACTIONS, AGENTS, INGESTION)

DEFERRED = Counter(
    "bizosaas_tenant_work_deferred_total",
    "Tasks parked because their tenant had its share of the work class in flight",
    ["queue"],
)
CHAINED = Counter(
    "bizosaas_tenant_work_chained_total",
    "Parked tasks run on by the worker of the tenant's task that finished before them (no broker hop)",
    ["queue"],
)
PARKED_SET = "bzs:parked"  # members "<class>:<schema>": who has parked work
PARK_TTL_SECONDS = 7 * 24 * 3600

# KEYS: the tenant's list, the set; ARGV: the member, ttl, then the tasks as JSON. Appends and marks in one step.
_PARK = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('LLEN', KEYS[1])
"""
PARK_CHUNK = 500  # tasks per park call (Lua's unpack has a stack limit)
# KEYS: the tenant's list, the set; ARGV: the member, how many. Pops up to n; unmarks the tenant once empty.
_UNPARK = """
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local item = redis.call('LPOP', KEYS[1])
  if not item then break end
  out[#out + 1] = item
end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return out
"""

# KEYS: the tenant's list, the set; ARGV: the member, ttl, then the tasks as JSON, newest first. Puts tasks taken
# but not run back at the head of the list, in their order.
_RETURN = """
redis.call('LPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('LLEN', KEYS[1])
"""

# KEYS: the tenant's lease slot, its parked list, the set; ARGV: the holder's token, the member. A finished task's
# release and its hand-over of the next parked task in one round trip: frees the place, pops one, unmarks if empty.
_FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
local item = redis.call('LPOP', KEYS[2])
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return item
"""


def in_flight_limit(work: str, schema: str) -> int:
    """How many of the tenant's tasks of this class may run at once: the tenant's own figure when a super admin
    set one (its quota override in admin), else TENANT_IN_FLIGHT."""
    try:
        override = in_flight_override(schema, work)
    except Exception as exc:  # the database unreachable for a moment: the platform's figure
        logger.warning("in-flight override unavailable: %s", type(exc).__name__)
        override = None
    return override if override is not None else settings.TENANT_IN_FLIGHT.get(work, 1)


def slot_name(work: str, schema: str) -> str:
    return f"inflight:{work}:{schema}"


def task_options(
    work: str,
    limits: tuple[float, float],
    *,
    chain: bool = False,
    merge_ids: bool = False,
    merge_limit: str | None = None,
) -> dict:
    """The `@shared_task` options of a tenant task of a work class: its queue, its share, its time limits (soft,
    hard), and the delivery guarantees every tenant task has (acknowledged after it ran, no result kept).

    `chain`: the task runs on the tenant's parked tasks of its class for up to a slice; only for tasks whose one
    run is bounded well below the soft limit (a slice plus one task must fit in it). `merge_ids`: parked calls
    `(schema, ids)` of the task are run as one call with their ids together, at most as many ids a call as the
    setting named `merge_limit` says (read when they run)."""
    soft, hard = limits
    return {
        "base": TenantTask,
        "queue": work,
        "acks_late": True,
        "ignore_result": True,
        "soft_time_limit": soft,
        "time_limit": hard,
        "chain_parked": chain,
        "merge_ids": merge_ids,
        "merge_limit": merge_limit,
    }


def parked_name(work: str, schema: str) -> str:
    return f"bzs:parked:{work}:{schema}"


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def park(work: str, schema: str, task: str, args, kwargs) -> bool:
    """Keeps the task in the tenant's waiting list of the class; False when Redis cannot take it."""
    return park_many(work, schema, task, [(args, kwargs)])


def park_many(work: str, schema: str, task: str, calls: list[tuple]) -> bool:
    """Keeps the tasks, (args, kwargs) each, in the tenant's waiting list in their order; False when Redis cannot
    take them (then none of them is parked)."""
    items = [json.dumps({"task": task, "args": list(args), "kwargs": kwargs or {}}) for args, kwargs in calls]
    try:
        client = _redis()
        with client.pipeline(transaction=True) as pipe:
            for start in range(0, len(items), PARK_CHUNK):
                chunk = items[start : start + PARK_CHUNK]
                pipe.eval(_PARK, 2, parked_name(work, schema), PARKED_SET, f"{work}:{schema}", PARK_TTL_SECONDS, *chunk)
            pipe.execute()
    except Exception as exc:  # Redis failing: the caller falls back on the sweeper
        logger.warning("could not park %s %s task(s): %s", len(items), work, type(exc).__name__)
        return False
    return True


def parked_count(work: str, schema: str) -> int:
    try:
        return int(_redis().llen(parked_name(work, schema)))
    except Exception:  # unknown: say none, the sweeper then does its usual pass
        return 0


def take_parked(work: str, schema: str, count: int) -> list[dict]:
    """Removes up to `count` of the tenant's parked tasks of the class, oldest first ({task, args, kwargs} each);
    whoever takes them runs or queues them (if that process dies first, the sweeper queues their rows again)."""
    if count <= 0:
        return []
    try:
        client = _redis()
        keys, args = [parked_name(work, schema), PARKED_SET], [f"{work}:{schema}", count]
        items = leases.script(client, _UNPARK)(keys=keys, args=args)
    except Exception as exc:
        logger.warning("could not unpark %s work: %s", work, type(exc).__name__)
        return []
    return [json.loads(raw) for raw in items or ()]


def return_parked(work: str, schema: str, items: list[dict]) -> None:
    """Puts tasks taken from the tenant's parked list and not run back where they were, ahead of the rest; when
    Redis cannot take them they are sent to the queue instead (or, failing that, left for the sweeper)."""
    if not items:
        return
    try:
        client = _redis()
        raw = [json.dumps(item) for item in reversed(items)]
        keys, args = [parked_name(work, schema), PARKED_SET], [f"{work}:{schema}", PARK_TTL_SECONDS, *raw]
        leases.script(client, _RETURN)(keys=keys, args=args)
    except Exception as exc:
        logger.warning("could not return %s parked %s task(s): %s", len(items), work, type(exc).__name__)
        for item in items:
            _send_parked(work, item)


def unpark(work: str, schema: str, count: int = 1) -> int:
    """Sends up to `count` of the tenant's parked tasks of the class back to their queue; how many."""
    return sum(_send_parked(work, item) for item in take_parked(work, schema, count))


def _send_parked(work: str, item: dict) -> bool:
    """Queues one task taken from a parked list; False when the broker did not take it (its row is still pending,
    so the sweeper queues it again)."""
    try:
        app.send_task(item["task"], item["args"], item["kwargs"], queue=work, retry=False)
    except Exception as exc:
        logger.warning("could not queue parked %s work, left for the sweeper: %s", work, type(exc).__name__)
        return False
    return True


def room(work: str, schema: str) -> int:
    return in_flight_limit(work, schema) - leases.in_use(slot_name(work, schema))


def unpark_due() -> int:
    """Releases parked work of every tenant whose share has room (the sweeper's pass; grows with parked work,
    not with tenants)."""
    try:
        members = [m.decode() if isinstance(m, bytes) else m for m in _redis().smembers(PARKED_SET)]
    except Exception as exc:
        logger.warning("parked work not looked at, Redis unavailable: %s", type(exc).__name__)
        return 0
    sent = 0
    for member in members:
        work, _, schema = member.partition(":")
        sent += unpark(work, schema, room(work, schema))
    return sent


MERGE_TAKE = 20  # parked fan-out batches run together at most (each up to the publisher's batch of ids)


def _merged(items: list[dict], task: str, limit: int | None = None) -> list[dict]:
    """Consecutive parked calls of `task`, (schema, ids) each, as one call with their ids together (at most `limit`
    ids a call); calls of any other task as they are."""
    out: list[dict] = []
    for item in items:
        last = out[-1] if out else None
        joins = (
            last is not None
            and item["task"] == last["task"] == task
            and not item["kwargs"]
            and not last["kwargs"]
            and (limit is None or len(last["args"][1]) + len(item["args"][1]) <= limit)
        )
        if joins:
            last["args"] = [last["args"][0], [*last["args"][1], *item["args"][1]]]  # type: ignore[index]
        else:
            out.append({**item, "args": list(item["args"])})
    return out


class TenantTask(Task):
    """A tenant's task of one work class (its `queue`), run only while the tenant is within its share."""

    abstract = True
    chain_parked = False  # see task_options
    merge_ids = False
    merge_limit: str | None = None  # the setting that caps a merged call's ids

    def apply_async(self, args=None, kwargs=None, **options):  # type: ignore[override]
        """A task due now for a tenant already at its share (or with work waiting) is parked at once: it never
        travels through the broker and a worker only to be parked there."""
        if args and not options.get("countdown") and not options.get("eta"):
            work, schema = self.queue or settings.CELERY_TASK_DEFAULT_QUEUE, args[0]  # type: ignore[attr-defined]
            if (parked_count(work, schema) or room(work, schema) <= 0) and park(work, schema, self.name, args, kwargs):
                DEFERRED.labels(work).inc()
                unpark(work, schema, room(work, schema))  # a holder may have finished meanwhile
                return None
        return super().apply_async(args, kwargs, **options)

    def apply_many(self, schema: str, calls: list[tuple]) -> None:
        """Queues many due-now tasks of one tenant, positional args each (the schema first): as many as its share
        has room for go to the broker, the rest wait in its parked list, in order. The same outcome as calling
        `apply_async` for each, with two Redis calls for the whole batch instead of three or four a task. Raises
        what the broker raises; a task sent before the failure stays sent."""
        work = self.queue or settings.CELERY_TASK_DEFAULT_QUEUE  # type: ignore[attr-defined]
        if not calls:
            return
        free = 0 if parked_count(work, schema) else max(0, room(work, schema))
        send, wait = calls[:free], calls[free:]
        for args in send:
            super().apply_async(args, retry=False)
        if not wait:
            return
        if park_many(work, schema, self.name, [(args, None) for args in wait]):
            DEFERRED.labels(work).inc(len(wait))
            # a holder may have finished meanwhile (the tasks just sent hold no lease yet: their room is taken)
            unpark(work, schema, room(work, schema) - len(send))
            return
        for args in wait:  # Redis cannot park them: the worker parks (or runs) each as it comes
            super().apply_async(args, retry=False)

    def __call__(self, *args, **kwargs):
        schema = args[0] if args else kwargs.get("schema", "")
        work = self.queue or settings.CELERY_TASK_DEFAULT_QUEUE  # type: ignore[attr-defined]
        name = slot_name(work, schema)
        lease = float(self.time_limit or settings.CELERY_TASK_TIME_LIMIT) + 30
        token = leases.try_acquire(name, limit=in_flight_limit(work, schema), lease=lease)
        if token is None:
            DEFERRED.labels(work).inc()
            if park(work, schema, self.name, args, kwargs):
                unpark(work, schema, room(work, schema))  # a holder may have finished meanwhile
            return None
        started = time.monotonic()
        try:
            result = super().__call__(*args, **kwargs)
            if self.chain_parked:
                self._run_parked(work, schema, started + settings.TENANT_WORK_SLICE_SECONDS)
            return result
        finally:
            self._finish(work, schema, name, token)

    def _finish(self, work: str, schema: str, name: str, token: str) -> None:
        """Gives the tenant's place back and sends its next parked task of the class to the queue."""
        if not token:  # not enforced (Redis was down at the start): nothing to release
            unpark(work, schema, 1)
            return
        try:
            client = _redis()
            keys = [leases.PREFIX + name, parked_name(work, schema), PARKED_SET]
            raw = leases.script(client, _FINISH)(keys=keys, args=[token, f"{work}:{schema}"])
        except Exception as exc:  # the lease runs out by itself; the sweeper hands parked work over
            logger.warning("could not release %s work: %s", work, type(exc).__name__)
            return
        if raw is not None:
            _send_parked(work, json.loads(raw))

    def _merged(self, items: list[dict]) -> list[dict]:
        return _merged(items, self.name, getattr(settings, self.merge_limit) if self.merge_limit else None)

    def _run_parked(self, work: str, schema: str, until: float) -> None:
        """Runs the tenant's parked tasks of this class here, oldest first, while the slice lasts."""
        while time.monotonic() < until:
            items = take_parked(work, schema, MERGE_TAKE if self.merge_ids else 1)
            if not items:
                return
            calls = self._merged(items) if self.merge_ids else items
            for index, item in enumerate(calls):
                if index and time.monotonic() >= until:  # the slice is over: the rest wait where they were
                    return_parked(work, schema, calls[index:])
                    return
                task = app.tasks.get(item["task"])
                if task is None:  # a task renamed since it was parked: its row is the sweeper's
                    logger.error("parked task %s is unknown; left for the sweeper", item["task"])
                    continue
                CHAINED.labels(work).inc()
                try:
                    task.run(*item["args"], **item["kwargs"])
                except SoftTimeLimitExceeded:
                    raise
                except Exception:  # as a worker would: logged, and the row's own retry schedule or the sweeper
                    logger.exception("parked %s task %s failed", work, item["task"])
