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
