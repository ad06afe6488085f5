"""Per-tenant quotas: what each limit is (`LIMITS`, data), what a tenant may use (`limits_for`: the QUOTA_*
platform defaults, overridden field by field by the tenant's `TenantQuota` row), what it uses now (`usage_for`),
and the checks that refuse with `QuotaExceeded` before anything is written.

Two kinds of limit:

- rate: counted per fixed window (a second, a minute, a UTC day) in Redis, under keys that carry the tenant schema
  and expire with their window; the LLM month budgets are summed from the tenant's own agent runs instead. Waiting
  helps, so an API request over one answers 429 with Retry-After (the seconds until the window resets).
- capacity: what the tenant holds (connections, workflow configurations, knowledge), counted from its own tables
  when it adds more, under an advisory lock held by the adding transaction so that two concurrent creates cannot
  both take the last place. Waiting does not help (only deleting something or a higher limit does): 403.

Redis unreachable: rate counters are not enforced (fail open, logged, and Redis is not asked again for a moment);
a request never fails because a counter cannot be read. Capacities and LLM budgets need PostgreSQL only.

What higher apps own is counted by functions those apps register at start-up (`register_counter`,
`register_subjects`), so this module imports none of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection as db
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django_tenants.utils import schema_context
from prometheus_client import Counter
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import ApiKey, Tenant, TenantQuota

logger = logging.getLogger(__name__)

RATE, CAPACITY = "rate", "capacity"
SECOND, MINUTE, DAY, MONTH, NONE = "second", "minute", "day", "month", "none"


@dataclass(frozen=True)
class Limit:
    key: str  # also the TenantQuota field
    label: str
    unit: str
    period: str  # second | minute | day | month (UTC) | none
    kind: str  # rate | capacity
    setting: str  # the platform default
    per: str = ""  # kept per API key or per endpoint rather than for the whole tenant

    @property
    def default(self) -> int | Decimal:
        return _number(self, getattr(settings, self.setting))


LIMITS: tuple[Limit, ...] = (
    Limit(
        "api_requests_per_minute", "API requests per minute", "requests", MINUTE, RATE, "QUOTA_API_REQUESTS_PER_MINUTE"
    ),
    Limit(
        "api_key_requests_per_minute",
        "API requests per minute per API key",
        "requests",
        MINUTE,
        RATE,
        "QUOTA_API_KEY_REQUESTS_PER_MINUTE",
        per="API key",
    ),
    Limit(
        "webhook_requests_per_second",
        "Inbound webhook requests per second per endpoint",
        "requests",
        SECOND,
        RATE,
        "QUOTA_WEBHOOK_REQUESTS_PER_SECOND",
        per="endpoint",
    ),
    Limit("events_per_day", "Events per day", "events", DAY, RATE, "QUOTA_EVENTS_PER_DAY"),
    Limit("agent_runs_per_day", "Agent runs per day", "runs", DAY, RATE, "QUOTA_AGENT_RUNS_PER_DAY"),
    Limit("llm_tokens_per_month", "LLM tokens per month", "tokens", MONTH, RATE, "QUOTA_LLM_TOKENS_PER_MONTH"),
    Limit("llm_cost_per_month_usd", "Estimated LLM cost per month", "USD", MONTH, RATE, "QUOTA_LLM_COST_PER_MONTH_USD"),
    Limit("knowledge_bytes", "Knowledge storage", "bytes", NONE, CAPACITY, "QUOTA_KNOWLEDGE_BYTES"),
    Limit("knowledge_chunks", "Knowledge chunks", "chunks", NONE, CAPACITY, "QUOTA_KNOWLEDGE_CHUNKS"),
    Limit("connections", "Connections", "connections", NONE, CAPACITY, "QUOTA_CONNECTIONS"),
    Limit("workflow_configs", "Workflow configurations", "configurations", NONE, CAPACITY, "QUOTA_WORKFLOW_CONFIGS"),
)
BY_KEY: dict[str, Limit] = {limit.key: limit for limit in LIMITS}
KEYS = tuple(BY_KEY)
PERIODS = (SECOND, MINUTE, DAY, MONTH, NONE)
KINDS = (RATE, CAPACITY)

REFUSALS = Counter(
    "bizosaas_quota_refusals_total", "Requests, writes and model calls refused by a tenant quota", ["limit"]
)


def _number(limit: Limit, value, *, cents: bool = True) -> int | Decimal:
    """A limit's value (money in whole cents) or, with cents=False, a usage (money as estimated)."""
    if limit.unit != "USD":
        return int(value)
    return Decimal(str(value)).quantize(Decimal("0.01")) if cents else Decimal(str(value))


def _schema(tenant: Tenant | str) -> str:
    return tenant if isinstance(tenant, str) else tenant.schema_name


# --- limits: defaults and overrides ----------------------------------------------------------------------------

OVERRIDES_CACHE_SECONDS = 10.0  # another process sees an override changed in admin within this
_overrides: dict[str, tuple[float, dict]] = {}


def _override_values(schema: str) -> dict:
    now = time.monotonic()
    cached = _overrides.get(schema)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = TenantQuota.objects.filter(tenant__schema_name=schema).values(*BY_KEY, *IN_FLIGHT_FIELDS).first() or {}
    values = {key: value for key, value in row.items() if value is not None}
    if len(_overrides) > 10000:
        _overrides.clear()
    _overrides[schema] = (now + OVERRIDES_CACHE_SECONDS, values)
    return values


@receiver(post_save, sender=TenantQuota, dispatch_uid="quotas.forget_overrides_on_save")
@receiver(post_delete, sender=TenantQuota, dispatch_uid="quotas.forget_overrides_on_delete")
@receiver(post_save, sender=Tenant, dispatch_uid="quotas.forget_overrides_on_tenant_save")
def _forget_overrides(sender, **kwargs) -> None:
    _overrides.clear()  # this process applies a change at once; the others within OVERRIDES_CACHE_SECONDS


def _loaded_override_values(tenant: Tenant) -> dict:
    try:
        row = tenant.quota
    except TenantQuota.DoesNotExist:
        return {}
    return {key: value for key in BY_KEY if (value := getattr(row, key)) is not None}


# The tenant's share of each work class in flight (bizosaas.work), overridable beside the quotas
IN_FLIGHT_FIELDS = tuple(f"in_flight_{work}" for work in ("fanout", "deliveries", "actions", "agents", "ingestion"))


def in_flight_override(schema: str, work: str) -> int | None:
    """The super admin's figure for the tenant's share of a work class, or None for the platform's."""
    return _override_values(schema).get(f"in_flight_{work}")


def _overrides_of(tenant: Tenant | str) -> dict:
    if isinstance(tenant, Tenant) and Tenant.quota.is_cached(tenant):
        return _loaded_override_values(tenant)
    return _override_values(_schema(tenant))


def _value(limit: Limit, overrides: dict) -> int | Decimal:
    value = overrides.get(limit.key)
    return _number(limit, limit.default if value is None else value)


def limits_for(tenant: Tenant | str) -> dict[str, int | Decimal]:
    """Every limit's value for the tenant: its override where set, else the platform default. A tenant loaded with
    its `quota` (as every request's is) costs no query; otherwise the overrides are read once a moment."""
    overrides = _overrides_of(tenant)
    return {limit.key: _value(limit, overrides) for limit in LIMITS}


def limit_for(tenant: Tenant | str, key: str) -> int | Decimal:
    """One limit's value for the tenant (what limits_for gives for `key`)."""
    return _value(BY_KEY[key], _overrides_of(tenant))


# --- windows ---------------------------------------------------------------------------------------------------


def window(period: str, now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """(key suffix, start, end) of the fixed UTC window of `period` holding `now`; capacities have none."""
    now = now.astimezone(UTC)
    if period == SECOND:
        start = now.replace(microsecond=0)
        return str(int(start.timestamp())), start, start + timedelta(seconds=1)
    if period == MINUTE:
        start = now.replace(second=0, microsecond=0)
        return start.strftime("%Y%m%d%H%M"), start, start + timedelta(minutes=1)
    if period == DAY:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d"), start, start + timedelta(days=1)
    if period == MONTH:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m"), start, (start + timedelta(days=32)).replace(day=1)
    return "", None, None


def _seconds_until(end: datetime, now: datetime) -> int:
    return max(1, math.ceil((end - now).total_seconds()))


# --- refusals --------------------------------------------------------------------------------------------------


def _amount(limit: Limit, value, *, unit: bool = True) -> str:
    if limit.unit == "USD":
        money = Decimal(str(value))
        return f"${money:,.2f}" if money >= 1 or money == money.quantize(Decimal("0.01")) else f"${money:.4f}"
    if limit.unit == "bytes":
        value = int(value)
        for name, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if value >= size:
                return f"{value / size:,.1f} {name}"
        return f"{value} bytes"
    return f"{int(value):,} {limit.unit}" if unit else f"{int(value):,}"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{math.ceil(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{math.ceil(seconds / 86400)} days"


WHEN = {SECOND: " this second", MINUTE: " this minute", DAY: " today (UTC)", MONTH: " this month (UTC)", NONE: ""}


class QuotaExceeded(Exception):
    """A tenant is over one of its limits; nothing was written. `retry_after` (seconds until the window resets) is
    set for rate limits (answered 429) and None for capacities (403)."""

    code = "quota_exceeded"
    window_end: datetime | None = None  # when a rate limit's window resets (set by refusal())

    def __init__(self, limit: Limit, *, limit_value, usage, retry_after: int | None, detail: str):
        super().__init__(detail)
        self.limit, self.limit_value, self.usage, self.retry_after, self.detail = (
            limit,
            limit_value,
            usage,
            retry_after,
            detail,
        )

    @property
    def status_code(self) -> int:
        return 429 if self.retry_after is not None else 403

    def body(self) -> dict:
        plain = lambda value: float(value) if isinstance(value, Decimal) else value  # noqa: E731
        return {
            "detail": self.detail,
            "code": self.code,
            "limit": self.limit.key,
            "limit_value": plain(self.limit_value),
            "usage": plain(self.usage),
            "retry_after": self.retry_after,
        }

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def refusal(
    limit: Limit, *, schema: str, limit_value, usage, now: datetime, adding=None, after: str = ""
) -> QuotaExceeded:
    """The exception for a refusal, counted in metrics and logged."""
    _suffix, _start, end = window(limit.period, now)
    retry_after = _seconds_until(end, now) if end is not None else None
    who = f" by this {limit.per}" if limit.per else ""
    detail = (
        f"{limit.label} quota reached: {_amount(limit, usage, unit=False)} of {_amount(limit, limit_value)} used{who}"
    )
    detail += WHEN[limit.period]
    if adding:
        detail += f"; this would add {_amount(limit, adding)}"
    detail += "."
    if after:
        detail += f" {after}"
    if retry_after is not None:
        detail += f" Try again in {_duration(retry_after)}."
    else:
        detail += " Delete what you no longer need, or ask the platform's administrators for a higher limit."
    REFUSALS.labels(limit.key).inc()
    logger.info("quota refused", extra={"limit": limit.key, "tenant": schema, "usage": str(usage)})
    exc = QuotaExceeded(limit, limit_value=limit_value, usage=usage, retry_after=retry_after, detail=detail)
    exc.window_end = end
    return exc


# --- rate counters in Redis ------------------------------------------------------------------------------------

REDIS_PAUSE_SECONDS = 5.0
_redis_down_until = 0.0
_scripts: dict = {}

# KEYS: counters. ARGV[1]: the amount; then per counter its limit (-1: count only) and its expiry in ms.
# Adds the amount to every counter unless one would pass its limit: then nothing is added and the answer is
# {that counter's position, its value}; else {0, 0}. One round trip, atomic.
_CONSUME = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i * 2])
  if limit >= 0 then
    local current = tonumber(redis.call('GET', key) or '0')
    if current + amount > limit then
      return {i, current}
    end
  end
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, amount)
  if redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, tonumber(ARGV[i * 2 + 1]))
  end
end
return {0, 0}
"""

# The same, in turn: each counter is counted before the next is looked at, so a refusal by one leaves the ones
# before it counted (and the ones after it untouched).
_CONSUME_IN_TURN = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i * 2])
  if limit >= 0 then
    local current = tonumber(redis.call('GET', key) or '0')
    if current + amount > limit then
      return {i, current}
    end
  end
  redis.call('INCRBY', key, amount)
  if redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, tonumber(ARGV[i * 2 + 1]))
  end
end
return {0, 0}
"""


def counter_key(schema: str, key: str, subject: str, suffix: str) -> str:
    # the schema in braces: one tenant's counters share a Redis Cluster slot (the script touches several)
    return f"bzs:quota:{{{schema}}}:{key}:{subject}:{suffix}"


def _redis():
    if time.monotonic() < _redis_down_until:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def redis_paused() -> bool:
    """Whether Redis failed a moment ago (its readers skip it for REDIS_PAUSE_SECONDS)."""
    return time.monotonic() < _redis_down_until


def _redis_failed(exc: Exception) -> None:
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_PAUSE_SECONDS
    logger.warning(
        "quota counters unreachable, rate limits not enforced for %.0f s: %s", REDIS_PAUSE_SECONDS, type(exc).__name__
    )


def _consume(
    schema: str, counters: Sequence[tuple[Limit, str, int | None]], amount: int, now: datetime, *, script=_CONSUME
) -> bool:
    """Whether the counters were reached (False: Redis is unreachable, nothing was counted or refused)."""
    keys: list[str] = []
    args: list[int] = [int(amount)]
    for limit, subject, value in counters:
        suffix, _start, end = window(limit.period, now)
        assert end is not None  # only rate limits are counted, and each has a period
        keys.append(counter_key(schema, limit.key, subject, suffix))
        args += [-1 if value is None else int(value), int((end - now).total_seconds() * 1000) + 5000]
    client = _redis()
    if client is None:
        return False
    try:
        registered = _scripts.get((id(client), script))
        if registered is None:
            registered = _scripts[(id(client), script)] = client.register_script(script)
        position, usage = registered(keys=keys, args=args)
    except Exception as exc:  # redis-py's errors, a refused socket, a timeout: no counting right now
        _redis_failed(exc)
        return False
    if position:
        limit, _subject, value = counters[int(position) - 1]
        raise refusal(limit, schema=schema, limit_value=value, usage=int(usage), now=now)
    return True


def consume(tenant: Tenant | str, key: str, *, subject: str = "", amount: int = 1) -> None:
    """Counts `amount` against a rate limit of the tenant's (for one API key or endpoint: `subject`), or raises
    QuotaExceeded, counting nothing, when that would pass it."""
    schema = _schema(tenant)
    _consume(schema, [(BY_KEY[key], subject, int(limit_for(schema, key)))], amount, timezone.now())


def consume_in_turn(tenant: Tenant | str, counters: list[tuple[str, str]], *, amount: int = 1) -> bool:
    """Counts `amount` against several rate limits of the tenant ((key, subject) each), in one round trip and in
    turn: over one of them, QuotaExceeded for it, with the ones before it counted and the ones after it not.
    Whether anything was counted (False while Redis is unreachable: nothing is enforced then)."""
    schema = _schema(tenant)
    overrides = _overrides_of(schema)
    chosen = [(BY_KEY[key], subject, int(_value(BY_KEY[key], overrides))) for key, subject in counters]
    return _consume(schema, chosen, amount, timezone.now(), script=_CONSUME_IN_TURN)


def count(tenant: Tenant | str, key: str, *, amount: int = 1) -> None:
    """Counts without ever refusing (the platform's own events are counted, never refused)."""
    _consume(_schema(tenant), [(BY_KEY[key], "", None)], amount, timezone.now())


def release(tenant: Tenant | str, key: str, *, amount: int = 1) -> None:
    """Gives back what was counted for something that was not stored after all (a duplicate webhook)."""
    client = _redis()
    if client is None or amount <= 0:
        return
    suffix, _start, _end = window(BY_KEY[key].period, timezone.now())
    try:
        client.decrby(counter_key(_schema(tenant), key, "", suffix), amount)
    except Exception as exc:
        _redis_failed(exc)


class ApiQuotaThrottle(BaseThrottle):
    """API requests per minute of the tenant a request acts on (people and API keys together) and of the API key
    making it; over either, QuotaExceeded (429 with Retry-After, see bizosaas.api). Counted after authentication
    and permissions, so refused callers never use up a tenant's requests."""

    def allow_request(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None or not getattr(request.user, "is_authenticated", False):
            return True
        overrides = _overrides_of(tenant)
        limit = BY_KEY["api_requests_per_minute"]
        counters = [(limit, "", int(_value(limit, overrides)))]
        if isinstance(request.auth, ApiKey):
            limit = BY_KEY["api_key_requests_per_minute"]
            counters.append((limit, str(request.auth.pk), int(_value(limit, overrides))))
        _consume(tenant.schema_name, counters, 1, timezone.now())
        return True


# --- capacities and budgets, counted from the tenant's tables --------------------------------------------------

UsageCounter = Callable[[datetime | None], int | Decimal]  # (start of the window or None) -> usage, in the schema
_counters: dict[str, UsageCounter] = {}
_subjects: dict[str, Callable[[str], Iterable[str]]] = {}


def register_counter(key: str, counter: UsageCounter) -> None:
    """How a capacity or table-counted budget is measured; filled in by the app owning the table, in ready()."""
    if key not in BY_KEY:
        raise LookupError(f"no quota named {key!r}")
    _counters[key] = counter


def register_subjects(key: str, subjects: Callable[[str], Iterable[str]]) -> None:
    """Which API keys or endpoints (ids) a per-subject rate limit is kept for in a tenant (given its schema)."""
    if key not in BY_KEY:
        raise LookupError(f"no quota named {key!r}")
    _subjects[key] = subjects


def _measure(key: str, since: datetime | None) -> int | Decimal:
    value = _counters[key](since)
    return _number(BY_KEY[key], value or 0, cents=False)


def check_capacity(tenant: Tenant | str, key: str, *, adding: int = 1) -> None:
    """Raises QuotaExceeded (403) when adding `adding` would take the tenant past a capacity. Call it in the
    current tenant schema, inside the transaction that adds: concurrent adds of the same tenant wait their turn
    on an advisory lock held until that transaction ends."""
    schema = _schema(tenant)
    limit = BY_KEY[key]
    value = limit_for(schema, key)
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"quota:{schema}:{key}"])
    usage = _measure(key, None)
    if usage + adding > value:
        raise refusal(
            limit,
            schema=schema,
            limit_value=value,
            usage=usage,
            now=timezone.now(),
            adding=adding if adding > 1 else None,
        )


BUDGETS = ("llm_tokens_per_month", "llm_cost_per_month_usd")


def check_budget(tenant: Tenant | str, *, pending: dict[str, int | Decimal] | None = None) -> None:
    """Before a model call: raises QuotaExceeded when the tenant's month-to-date LLM tokens or estimated cost (its
    agent runs' recorded figures plus `pending`, what the running run has used so far) reached a monthly budget."""
    schema = _schema(tenant)
    now = timezone.now()
    _suffix, start, _end = window(MONTH, now)
    limits = limits_for(schema)
    for key in BUDGETS:
        usage = _measure(key, start) + _number(BY_KEY[key], (pending or {}).get(key, 0), cents=False)
        if usage >= limits[key]:
            raise refusal(
                BY_KEY[key],
                schema=schema,
                limit_value=limits[key],
                usage=usage,
                now=now,
                after="The run stopped before calling the model.",
            )


# --- usage -----------------------------------------------------------------------------------------------------


def usage_for(tenant: Tenant, *, now: datetime | None = None) -> list[dict]:
    """Every limit with its value for the tenant, the current usage (None when the rate counters cannot be read;
    for a limit kept per API key or endpoint, the busiest one's) and when the current window ends (None for
    capacities). Read-only; one Redis round trip and one query per table-counted limit."""
    now = now or timezone.now()
    schema = tenant.schema_name
    limits = limits_for(schema)
    rows: list[dict] = []
    wanted: dict[str, list[str]] = {}
    with schema_context(schema):
        for limit in LIMITS:
            suffix, start, end = window(limit.period, now)
            row: dict[str, Any] = {
                "key": limit.key,
                "label": limit.label,
                "unit": limit.unit,
                "period": limit.period,
                "kind": limit.kind,
                "per": limit.per,
                "limit_value": limits[limit.key],
                "usage": None,
                "resets_at": end,
            }
            if limit.key in _counters:
                row["usage"] = _measure(limit.key, start)
            else:
                subjects = list(_subjects[limit.key](schema)) if limit.key in _subjects else [""]
                wanted[limit.key] = [counter_key(schema, limit.key, subject, suffix) for subject in subjects]
            rows.append(row)
    keys = [key for keys in wanted.values() for key in keys]
    values: dict[str, int] = {}
    client = _redis()
    if client is not None:
        try:
            values = {key: int(raw or 0) for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True)}
        except Exception as exc:
            _redis_failed(exc)
            values = {}
    for row in rows:
        if row["key"] in wanted and (values or not wanted[row["key"]]):
            row["usage"] = max((values.get(key, 0) for key in wanted[row["key"]]), default=0)
    return rows


def _api_keys_of(schema: str) -> Iterable[str]:
    keys = ApiKey.objects.filter(tenant__schema_name=schema, revoked_at__isnull=True)
    return (str(pk) for pk in keys.values_list("pk", flat=True))


register_subjects("api_key_requests_per_minute", _api_keys_of)
