"""The rows every authenticated request looks up (the tenant of a domain or a token, the user, the user's role in
the tenant, the API key), kept across requests in the process while a generation number in Redis stays the same.

Any change bearing on access (a tenant's status, slug or quota; a domain; a membership or role; a user's
activity, password, superuser flag or token version; an API key's scopes, expiry or revocation) raises the
generation once its transaction has committed (the signals below, and `access_changed()` where a queryset update
bypasses them), and every process drops all its entries at its next request: a removal or suspension applies at
once, everywhere. Each request reads the generation once (one Redis round trip instead of four queries). With
Redis unreachable nothing is cached and every lookup is a query: slower, never stale.

Entries are handed out as copies, so a request that changes its tenant or user object never changes another
request's.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.accounts import quotas
from apps.accounts.models import ApiKey, Domain, Membership, Tenant, TenantQuota, User

logger = logging.getLogger(__name__)

GENERATION_KEY = "access:generation"
MAX_ENTRIES = 50_000  # a full cache is emptied, never grown further

_MISSING = object()
T = TypeVar("T")

_lock = threading.Lock()
_entries: dict[tuple, object] = {}
_generation: bytes | None = None
_local = threading.local()  # whether this thread's current request may use the cache


def _client():
    cache = caches["global"]
    return cache.client.get_client(write=True), cache.make_key(GENERATION_KEY)  # type: ignore[attr-defined]


def request_begins(also: str | None = None) -> None:
    """Called once at the start of a request: reads the generation, forgets everything if it moved. The request
    uses the cache only if Redis answered.

    `also` names one more key of the global cache that the request will ask about (the session-ended mark of its
    JWT, apps.accounts.tokens): read in the same round trip, and answered by `prefetched(also)` until the request
    ends."""
    global _generation

    _local.usable = False
    _local.prefetched = None
    if quotas.redis_paused():
        return
    try:
        client, key = _client()
        if also is None:
            current = client.get(key) or b"0"
        else:
            current, other = client.mget([key, caches["global"].make_key(also)])
            current = current or b"0"
            _local.prefetched = (also, other)
    except Exception as exc:  # a dead Redis, a configuration without it: queries, as without a cache
        quotas._redis_failed(exc)
        return
    with _lock:
        if current != _generation:
            _entries.clear()
            _generation = current
    _local.usable = True


def request_ends() -> None:
    _local.usable = False
    _local.prefetched = None


def prefetched(key: str) -> tuple[bool, bytes | None]:
    """(True, the raw value or None when absent) if `request_begins(also=key)` read `key` for this request;
    (False, None) if it did not (another key, or Redis did not answer)."""
    seen = getattr(_local, "prefetched", None)
    if seen is None or seen[0] != key:
        return False, None
    return True, seen[1]


def lookup(key: tuple, load: Callable[[], T]) -> T:
    """The cached value for `key`, or `load()` (kept when the request may use the cache). Model instances are
    copied on the way out."""
    if not getattr(_local, "usable", False):
        return load()
    with _lock:
        value = _entries.get(key, _MISSING)
        generation = _generation
    if value is _MISSING:
        value = load()
        with _lock:
            if generation == _generation:  # not if the generation moved while loading
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key] = value
    return copy.copy(value) if hasattr(value, "_state") else value  # type: ignore[return-value]


def access_changed() -> None:
    """Forgets this process's entries now and raises the generation after the current transaction commits (at
    once outside one), when every process forgets them."""
    _forget()
    transaction.on_commit(_bump)


def _forget() -> None:
    global _generation
    with _lock:
        _entries.clear()
        _generation = None


def _bump() -> None:
    _forget()  # again: a request of this process may have read the rows before the commit
    try:
        client, key = _client()
        client.incr(key)
    except Exception as exc:  # the other processes' entries go when Redis is back (they stop caching until then)
        logger.warning("could not raise the access generation: %s", type(exc).__name__)


@receiver(post_save, sender=Tenant, dispatch_uid="access_cache.tenant_saved")
@receiver(post_delete, sender=Tenant, dispatch_uid="access_cache.tenant_deleted")
@receiver(post_save, sender=Domain, dispatch_uid="access_cache.domain_saved")
@receiver(post_delete, sender=Domain, dispatch_uid="access_cache.domain_deleted")
@receiver(post_save, sender=Membership, dispatch_uid="access_cache.membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="access_cache.membership_deleted")
@receiver(post_save, sender=TenantQuota, dispatch_uid="access_cache.quota_saved")
@receiver(post_delete, sender=TenantQuota, dispatch_uid="access_cache.quota_deleted")
@receiver(post_delete, sender=User, dispatch_uid="access_cache.user_deleted")
@receiver(post_save, sender=ApiKey, dispatch_uid="access_cache.api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="access_cache.api_key_deleted")
def _row_changed(sender, **kwargs) -> None:
    access_changed()


@receiver(post_save, sender=User, dispatch_uid="access_cache.user_saved")
def _user_saved(sender, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login writes it; nothing about access changed
    access_changed()
