"""The rows every authenticated request looks up (the tenant of a domain or a token, the user, the user's role in
the tenant, the API key, whether a session ended), kept across requests in the process until something changes.

Any change bearing on access (a tenant's status, slug or quota; a domain; a membership or role; a user's
activity, password, superuser flag or token version; an API key's scopes, expiry or revocation; a logout) is
published on a Redis channel once its transaction has committed (the signals below, and `access_changed()` where
a queryset update bypasses them). Every process keeps one subscription to that channel and, at the start of each
request, reads whatever has arrived on it without waiting (a poll of a socket, no round trip): the message of a
change is in every subscriber's socket before the change's own request is answered (the publisher waits for a
second reply, which Redis sends only after it has written the subscribers' copies), so a removal or suspension
applies at once, everywhere. A process that is not subscribed (Redis unreachable, the subscription lost and made
again) caches nothing and forgets what it had: slower, never stale.

Entries are handed out as copies, so a request that changes its tenant or user object never changes another
request's.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
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

CHANNEL = "access:changed"  # a key of the global cache: one channel per deployment's key prefix
EVERYTHING = b"*"  # a message: forget every entry
SESSION = b"session:"  # a message: that session ended (only its entry goes)
MAX_ENTRIES = 50_000  # a full cache is emptied, never grown further
SUBSCRIBE_TIMEOUT = 1.0  # seconds to wait for Redis to confirm the subscription

_MISSING = object()
T = TypeVar("T")

_lock = threading.Lock()
_entries: dict[tuple, object] = {}
_epoch = 0  # raised whenever entries are forgotten: a value loaded across a change is not kept
_listener: _Listener | None = None
_local = threading.local()  # whether this thread's current request may use the cache


def _client():
    cache = caches["global"]
    return cache.client.get_client(write=True), cache.make_key(CHANNEL)  # type: ignore[attr-defined]


class _Listener:
    """This process's subscription to the channel: one connection, read without blocking."""

    def __init__(self) -> None:
        client, channel = _client()
        self.pid = os.getpid()  # a forked child makes its own (the parent's socket is the parent's)
        self.missed = False
        self.pubsub = client.pubsub()
        try:
            self.pubsub.subscribe(channel)
            confirmed = self.pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)
            if not confirmed or confirmed.get("type") != "subscribe":
                raise ConnectionError("Redis did not confirm the subscription to the access channel")
            # redis-py reconnects and subscribes again by itself: what was published in between is lost to us
            self.pubsub.connection.register_connect_callback(self._reconnected)
        except BaseException:
            self.close()
            raise

    def _reconnected(self, connection) -> None:
        self.missed = True

    def changes(self) -> list[bytes]:
        """The messages that arrived since the last call (raises when the connection is broken)."""
        received: list[bytes] = []
        connection = self.pubsub.connection
        if connection is None or not connection.can_read(timeout=0):  # the usual answer: one poll of the socket
            return received
        while (message := self.pubsub.get_message(timeout=0.0)) is not None:
            if message.get("type") == "message":
                received.append(message["data"])
        return received

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
            self.pubsub.close()


def request_begins() -> None:
    """Called once at the start of a request: applies the changes published since the last request of this
    process (subscribing first if it is not). The request uses the cache only if the subscription stands."""
    _local.usable = False
    if quotas.redis_paused():
        return
    with _lock:
        try:
            received = _received()
        except Exception as exc:  # a dead Redis, a configuration without it: queries, as without a cache
            quotas._redis_failed(exc)
            return
        for change in received:
            if change.startswith(SESSION):
                _forget_session(change[len(SESSION) :].decode(errors="replace"))
            else:
                _clear()
    _local.usable = True


def _received() -> list[bytes]:
    """What arrived on the channel (the lock held). A subscription that broke, or that redis-py made again by
    itself, may have missed messages: it is replaced by a new one, and every entry is forgotten."""
    global _listener
    listener = _listener
    if listener is not None and listener.pid == os.getpid():
        try:
            received = listener.changes()
            if not listener.missed:
                return received
        except Exception as exc:  # the connection broke: subscribe again, once, right now
            logger.info("the access channel's subscription broke (%s): subscribing again", type(exc).__name__)
        listener.close()
    _listener = None
    _clear()  # whatever changed while this process was not listening
    _listener = _Listener()
    return []


def keep_nothing() -> None:
    """What the current request looks up from now on is not kept: a load answered without Redis (failing open)
    must not outlive the request."""
    _local.usable = False


request_ends = keep_nothing  # after its end, a thread's lookups are not a request's


def _clear() -> None:
    """Forgets every entry (the lock held)."""
    global _epoch
    _entries.clear()
    _epoch += 1


def _forget_session(sid: str) -> None:
    """Forgets whether the session ended (the lock held); a lookup loading it meanwhile does not keep its answer."""
    global _epoch
    _entries.pop(("session_ended", sid), None)
    _epoch += 1


def lookup(key: tuple, load: Callable[[], T]) -> T:
    """The cached value for `key`, or `load()` (kept when the request may use the cache). Model instances are
    copied on the way out."""
    if not getattr(_local, "usable", False):
        return load()
    with _lock:
        value = _entries.get(key, _MISSING)
        epoch = _epoch
    if value is _MISSING:
        value = load()
        with _lock:
            # not if something changed while loading, nor an answer its load gave without Redis (keep_nothing)
            if epoch == _epoch and getattr(_local, "usable", False):
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key] = value
    return copy.copy(value) if hasattr(value, "_state") else value  # type: ignore[return-value]


def access_changed() -> None:
    """Forgets this process's entries now and tells every process after the current transaction commits (at once
    outside one)."""
    _forget()
    transaction.on_commit(_publish)


def session_ended(sid: str) -> None:
    """Tells every process that a session ended (its mark is already in Redis: apps.accounts.tokens)."""
    with _lock:
        _forget_session(sid)
    _publish(SESSION + sid.encode())


def _forget() -> None:
    with _lock:
        _clear()


def _publish(change: bytes = EVERYTHING) -> None:
    if change == EVERYTHING:
        _forget()  # again: a request of this process may have read the rows before the commit
    try:
        client, channel = _client()
        client.publish(channel, change)
        # Redis writes the subscribers' copies in the same pass as this reply, but maybe just after it: a second
        # round trip returns only once that pass is over, so no request this change answers can outrun them
        client.ping()
    except Exception as exc:  # Redis unreachable: so it is for the subscriptions too, and each process forgets all
        logger.warning("could not publish an access change: %s", type(exc).__name__)


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
