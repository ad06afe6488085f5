import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.models import Domain, Membership, Tenant, User
from apps.accounts.services import tenant_create

pytestmark = pytest.mark.django_db


def tables_in(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        return {row[0] for row in cursor.fetchall()}


def test_creating_a_tenant_creates_and_migrates_its_own_schema():
    tenant = tenant_create(name="Acme Agency", slug="acme-agency")

    assert tenant.schema_name == "acme_agency"
    assert schema_exists("acme_agency")
    tables = tables_in("acme_agency")
    assert "django_migrations" in tables
    assert "django_content_type" in tables  # a tenant app's table
    assert "accounts_user" not in tables  # shared apps stay in public
    assert "accounts_user" in tables_in("public")
    assert Domain.objects.get(tenant=tenant).domain == "acme-agency.localhost"


def test_a_duplicate_or_malformed_slug_is_rejected_and_creates_no_schema():
    tenant_create(name="Acme", slug="acme")

    with pytest.raises(ValidationError) as duplicate:
        tenant_create(name="Acme again", slug="acme")
    with pytest.raises(ValidationError) as malformed:
        tenant_create(name="Bad", slug="Bad_Slug!")

    assert "slug" in duplicate.value.message_dict
    assert "slug" in malformed.value.message_dict
    assert Tenant.objects.filter(name__in=["Acme again", "Bad"]).count() == 0
    assert not schema_exists("bad_slug_")


def test_pgvector_is_usable_from_a_tenant_schema():
    tenant = tenant_create(name="Vectors", slug="vectors")

    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector")
        assert cursor.fetchone()[0] == 1.0


def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    out = capsys.readouterr().out
    firsts = [line for line in out.splitlines() if line.startswith("demo tenant")]
    assert "created" in firsts[0]
    assert "already present" in firsts[1]
    demo = Tenant.objects.get(slug="demo")
    assert schema_exists(demo.schema_name)
    owner = User.objects.get(email="owner@demo.localhost")
    assert owner.check_password("demo-owner-pass-2026")
    assert Membership.objects.filter(tenant=demo).count() == 1
    assert Membership.objects.get(tenant=demo).role == "owner"
    assert Domain.objects.filter(domain="demo.localhost", tenant=demo).exists()


def test_a_request_on_a_tenant_domain_runs_in_that_tenants_schema(client):
    tenant_create(name="Globex", slug="globex")

    response = client.get("/healthz", HTTP_HOST="globex.localhost")

    assert response.status_code == 200
    assert response.wsgi_request.tenant.schema_name == "globex"


def test_new_tenant_schemas_match_the_migrated_template_schema():
    assert schema_exists("tenant_template")

    tenant = tenant_create(name="Clone", slug="clone")

    assert tables_in(tenant.schema_name) == tables_in("tenant_template")
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'audit'")
        assert cursor.fetchone()[0] >= 2  # migrations recorded, so later ones apply normally
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        assert cursor.fetchone()[0] == 0  # no data copied over from the template


def test_tenant_schemas_are_built_from_the_template_snapshot_with_its_triggers():
    from apps.accounts.models import TenantTemplate

    snapshot = TenantTemplate.objects.get()
    assert snapshot.schema == "tenant_template"
    assert "CREATE TABLE tenant_template.audit_auditevent" in snapshot.sql

    tenant = tenant_create(name="Snap", slug="snap")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT event_object_table, trigger_name FROM information_schema.triggers "
            "WHERE event_object_schema = %s",
            [tenant.schema_name],
        )
        triggers = {(table, name.split("_")[0]) for table, name in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM information_schema.triggers WHERE event_object_schema = %s", [tenant.schema_name]
        )
        count = cursor.fetchone()[0]
    # the audit log's append-only rule (UPDATE and DELETE), and the index of owed work (insert, update, delete)
    assert triggers == {
        ("audit_auditevent", "audit"),
        ("integrations_event", "bzs"),
        ("integrations_delivery", "bzs"),
        ("integrations_actionrun", "bzs"),
        ("agents_agentapproval", "bzs"),  # pending approvals, by expiry
    }
    assert count == 2 + 4 * 3


def test_an_empty_tenant_keeps_pattern_indexes_only_where_something_filters_by_pattern():
    tenant = tenant_create(name="Lean", slug="lean")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE '%%varchar_pattern_ops%%'",
            [tenant.schema_name],
        )
        pattern = sorted(name.rsplit("_", 2)[0] for (name,) in cursor.fetchall())
    # event types are matched with wildcards (`custom.*`), audit actions by prefix (`connection.`)
    assert pattern == ["audit_auditevent_action", "integrations_event_type"]


def test_a_leftover_schema_is_never_handed_to_a_new_tenant():
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA leftover")

    with pytest.raises(ValidationError) as refused:
        tenant_create(name="Leftover", slug="leftover")

    assert "slug" in refused.value.message_dict
    assert not Tenant.objects.filter(slug="leftover").exists()


def test_seed_demo_with_superadmin_creates_one_console_account_once():
    call_command("seed_demo", superadmin=True)
    call_command("seed_demo", superadmin=True)

    admins = User.objects.filter(is_superuser=True)
    assert [a.email for a in admins] == ["admin@platform.localhost"]
    assert admins[0].check_password("local-superadmin-2026")
