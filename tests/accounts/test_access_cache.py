"""The access rows kept across requests (apps.accounts.access_cache): a change made anywhere applies at the next
request, in this process and in the others (which learn of it on a Redis channel)."""

import pytest
from django.test import Client

from apps.accounts import access_cache
from apps.accounts.audit.services import Actor
from apps.accounts.models import Membership, Tenant
from apps.accounts.services import membership_remove
from tests.factories import bearer, make_member, make_tenant

MEMBERS = "/api/v1/members/"
INVITE = "/api/v1/invitations/"
# both caches pointed at a port nothing listens on
UNREACHABLE_REDIS = {
    name: {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, "IGNORE_EXCEPTIONS": True},
    }
    for name in ("default", "global")
}


class Probe:
    """Another process's subscription to the channel."""

    def __init__(self):
        client, channel = access_cache._client()
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        assert self.pubsub.get_message(timeout=1.0) is None  # the confirmation, ignored

    def received(self) -> list[bytes]:
        messages = []
        while (message := self.pubsub.get_message(timeout=0.2)) is not None:
            messages.append(message["data"])
        return messages


def another_process_committed_a_change(change: bytes = b"*") -> None:
    """What `access_changed()` does in another process once its transaction commits."""
    client, channel = access_cache._client()
    client.publish(channel, change)
    client.ping()  # as access_cache._publish does: the subscribers' copies are written by the time it answers


@pytest.fixture
def acme(db):
    return make_tenant(slug="acme-cache")


def test_a_role_lowered_by_another_process_applies_at_the_next_request(acme):
    admin = make_member(acme, "admin")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(admin, acme)
    assert client.get(MEMBERS, **auth).status_code == 200  # the tenant, the user and the role are now kept
    invite = {"email": "new@acme-cache.example", "role": "member"}
    assert client.post(INVITE, invite, content_type="application/json", **auth).status_code == 201

    # another process lowers the role (a queryset update: no signal reaches this process) and commits
    Membership.objects.filter(user=admin, tenant=acme).update(role="viewer")
    another_process_committed_a_change()

    refused = client.post(
        INVITE, {**invite, "email": "other@acme-cache.example"}, content_type="application/json", **auth
    )
    assert refused.status_code == 403


def test_a_tenant_suspended_by_another_process_is_refused_at_the_next_request(acme):
    member = make_member(acme, "member")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(member, acme)
    assert client.get(MEMBERS, **auth).status_code == 200

    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.SUSPENDED)
    another_process_committed_a_change()

    response = client.get(MEMBERS, **auth)
    assert response.status_code == 403
    assert "suspended" in response.content.decode()


def test_a_removal_here_applies_at_once_and_tells_the_other_processes_on_commit(transactional_db):
    tenant = make_tenant(slug="acme-cache-commit")
    owner, member = make_member(tenant, "owner"), make_member(tenant, "member")
    client = Client(HTTP_HOST="localhost")
    assert client.get(MEMBERS, **bearer(member, tenant)).status_code == 200
    other_process = Probe()

    membership_remove(membership=Membership.objects.get(user=member, tenant=tenant), actor=Actor.for_user(owner))

    assert b"*" in other_process.received()
    assert client.get(MEMBERS, **bearer(member, tenant)).status_code == 403


def test_a_password_change_elsewhere_ends_the_cached_users_tokens(acme):
    member = make_member(acme, "member")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(member, acme)
    assert client.get(MEMBERS, **auth).status_code == 200

    from django.db.models import F

    from apps.accounts.models import User

    User.objects.filter(pk=member.pk).update(token_version=F("token_version") + 1)
    another_process_committed_a_change()

    assert client.get(MEMBERS, **auth).status_code == 401


def test_a_second_request_reads_no_tenant_user_or_membership_row(acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member = make_member(acme, "member")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(member, acme)
    client.get(MEMBERS, **auth)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(MEMBERS, **auth).status_code == 200

    lookups = [q["sql"] for q in queries.captured_queries if 'FROM "accounts_domain"' in q["sql"]]
    lookups += [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "accounts_user"')]
    lookups += [q["sql"] for q in queries.captured_queries if 'SELECT "accounts_membership"."role"' in q["sql"]]
    assert lookups == []


def test_an_api_key_revoked_by_another_process_is_refused_at_the_next_request(acme):
    from apps.accounts.models import ApiKey
    from apps.accounts.services import api_key_create

    key, secret = api_key_create(
        tenant=acme, name="ci", scopes=["members:read"], expires_at=None, created_by=None, actor=Actor.system("t")
    )
    client = Client(HTTP_HOST="localhost")
    assert client.get(MEMBERS, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    from django.utils import timezone

    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    another_process_committed_a_change()

    assert client.get(MEMBERS, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_a_logout_in_another_process_ends_the_session_at_the_next_request(acme):
    from django.core.cache import caches
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.tokens import session_ended_key, token_pair

    member = make_member(acme, "member")
    access = token_pair(user=member, tenant=acme)["access"]
    client = Client(HTTP_HOST="localhost")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    assert client.get(MEMBERS, **auth).status_code == 200
    assert client.get(MEMBERS, **auth).status_code == 200  # "not ended" is now kept

    # what apps.accounts.tokens.session_end does in another process
    sid = AccessToken(access)["sid"]
    caches["global"].set(session_ended_key(sid), 1, timeout=600)
    another_process_committed_a_change(b"session:" + sid.encode())

    assert client.get(MEMBERS, **auth).status_code == 401


def test_a_logout_here_tells_the_other_processes(acme):
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.accounts.tokens import session_end, token_pair

    member = make_member(acme, "member")
    refresh = RefreshToken(token_pair(user=member, tenant=acme)["refresh"])
    other_process = Probe()

    session_end(refresh=refresh)

    assert other_process.received() == [b"session:" + str(refresh["sid"]).encode()]


def test_a_lost_subscription_forgets_everything_it_kept(acme):
    """Redis dropped the subscription's connection (a restart, a network cut): what was published while it was
    gone never arrives, so the process keeps nothing it had."""
    member = make_member(acme, "member")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(member, acme)
    assert client.get(MEMBERS, **auth).status_code == 200

    redis, _channel = access_cache._client()
    redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.SUSPENDED)  # and its message is lost

    response = client.get(MEMBERS, **auth)
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert access_cache._listener is not None  # subscribed again at once: Redis itself never went away


def test_without_redis_nothing_is_kept_and_every_request_reads_the_rows(acme):
    """A process that cannot subscribe caches nothing: each request reads its rows (slower, never stale)."""
    from django.test import override_settings

    from apps.accounts import quotas

    member = make_member(acme, "member")
    client = Client(HTTP_HOST="localhost")
    auth = bearer(member, acme)
    assert client.get(MEMBERS, **auth).status_code == 200
    access_cache._listener = None  # as in a process started while Redis is away: it must subscribe, and cannot
    try:
        with override_settings(CACHES=UNREACHABLE_REDIS):
            Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.SUSPENDED)  # no message tells anyone
            response = client.get(MEMBERS, **auth)
    finally:
        quotas._redis_down_until = 0.0  # the next test has Redis again
    assert response.status_code == 403
    assert "suspended" in response.content.decode()


def test_a_session_check_that_failed_open_is_not_kept(acme):
    """Redis did not answer whether the session ended (the request fails open): once it answers again, a logout
    that happened meanwhile applies; the open answer was for that one request."""
    from django.core.cache import caches
    from django.test import override_settings
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts import quotas
    from apps.accounts.tokens import session_ended_key, token_pair

    member = make_member(acme, "member")
    access = token_pair(user=member, tenant=acme)["access"]
    client = Client(HTTP_HOST="localhost")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    assert client.get(MEMBERS, **auth).status_code == 200  # subscribed; this session's answer kept
    sid = AccessToken(access)["sid"]
    caches["global"].set(session_ended_key(sid), 1, timeout=600)  # the logout, told to every process
    another_process_committed_a_change(b"session:" + sid.encode())
    try:
        # the mark cannot be read (the subscription itself still stands)
        with override_settings(CACHES=UNREACHABLE_REDIS):
            assert client.get(MEMBERS, **auth).status_code == 200  # failing open, as before
    finally:
        quotas._redis_down_until = 0.0
    assert client.get(MEMBERS, **auth).status_code == 401
