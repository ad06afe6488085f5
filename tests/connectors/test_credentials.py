import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def stored_token(tenant) -> str:
    with schema_context(tenant.schema_name), db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connection")
        return cursor.fetchone()[0]


def test_key_rotation_re_encrypts_everything_with_the_new_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    tenant = make_tenant(slug="acme")
    with override_settings(CREDENTIALS_KEYS=[old]), schema_context(tenant.schema_name):
        Connection.objects.create(provider="wordpress", name="blog", credentials={"application_password": "pw-1"})
    before = stored_token(tenant)
    Fernet(old.encode()).decrypt(before.encode())  # encrypted with the old key

    # the new key goes first, the old one stays for reading; then the operator rotates
    with override_settings(CREDENTIALS_KEYS=[new, old]):
        call_command("rotate_credentials_key")
    after = stored_token(tenant)

    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode())
    with override_settings(CREDENTIALS_KEYS=[new]), schema_context(tenant.schema_name):
        assert Connection.objects.get().credentials == {"application_password": "pw-1"}  # old key no longer needed
    stranger = Fernet.generate_key().decode()
    with (
        override_settings(CREDENTIALS_KEYS=[stranger]),
        schema_context(tenant.schema_name),
        pytest.raises(ValueError, match="cannot be decrypted"),
    ):
        Connection.objects.get()


def test_rotation_covers_every_encrypted_column_and_reports_per_kind():
    """Every encrypted value of every kind is re-encrypted: checked independently of the command's registry, by
    scanning every text column of every table for Fernet tokens, so an encrypted field added later and missed
    fails here."""
    import io
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents.models import LLMProvider
    from apps.connectors.crypto import encrypted_fields
    from apps.connectors.models import OAuthState
    from apps.integrations.models import InboundEndpoint, Subscription

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    tenant = make_tenant(slug="acme")
    with override_settings(CREDENTIALS_KEYS=[old]), schema_context(tenant.schema_name):
        conn = Connection.objects.create(provider="zendesk", name="desk", credentials={"client_secret": "c"})
        OAuthState.objects.create(
            nonce="n", connection=conn, user_id=1, secrets={"verifier": "v"}, redirect_uri="https://x.test/cb",
            expires_at=timezone.now() + timedelta(minutes=5),
        )  # fmt: skip
        LLMProvider.objects.create(name="ai", kind="openai", default_model="m", credentials={"api_key": "k"})
        InboundEndpoint.objects.create(name="in", token="tok-1", secrets={"signing_secret": "whsec_x"})
        Subscription.objects.create(url="https://example.com/h", event_types=["*"], secrets={"current": "whsec_y"})
    kinds = {f"{model._meta.label}.{field.name}" for model, field in encrypted_fields()}
    assert {
        "connectors.Connection.credentials",
        "connectors.OAuthState.secrets",
        "agents.LLMProvider.credentials",
        "integrations.InboundEndpoint.secrets",
        "integrations.Subscription.secrets",
    } <= kinds

    out = io.StringIO()
    with override_settings(CREDENTIALS_KEYS=[new, old]):
        call_command("rotate_credentials_key", stdout=out)

    for kind in kinds:
        assert f"{kind}: 1 re-encrypted" in out.getvalue(), out.getvalue()
    assert "re-encrypted 5 value(s)" in out.getvalue()
    only_new = Fernet(new.encode())
    found = 0
    for schema in ("public", tenant.schema_name):
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND data_type IN ('text', 'character varying')",
                [schema],
            )
            for table, column in cursor.fetchall():
                cursor.execute(
                    f'SELECT "{column}" FROM "{schema}"."{table}" WHERE "{column}" LIKE %s',
                    ["gAAAAA%"],
                )
                for (value,) in cursor.fetchall():
                    only_new.decrypt(value.encode())  # raises InvalidToken if left under the old key
                    found += 1
    assert found == 5
