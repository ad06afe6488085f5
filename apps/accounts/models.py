from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9-]{1,46}[a-z0-9]$",
    "3-48 characters: lower-case letters, digits and hyphens, starting with a letter.",
)


RESERVED_SLUGS = {"public", "www", "admin", "api", "app", "static", "tenant-template", "pg-catalog"}


class Tenant(TenantMixin):
    """A customer organisation; its data lives in its own PostgreSQL schema (`schema_name`)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=48, unique=True, validators=[SLUG_VALIDATOR])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # the person who started a run (agent or workflow) may not approve its actions
    approver_must_differ = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """Builds the schema from the template snapshot (see tenant_template); migrations replay only without one."""
        from django.db import connection
        from django_tenants.utils import schema_exists

        from apps.accounts.tenant_template import template_sql_for  # that module imports this one

        if check_if_exists and schema_exists(self.schema_name):
            return False
        sql = template_sql_for(self.schema_name) if sync_schema else None
        if sql is None:
            return super().create_schema(check_if_exists=check_if_exists, sync_schema=sync_schema, verbosity=verbosity)
        with connection.cursor() as cursor:
            cursor.execute(sql)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        return True

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def clean(self) -> None:
        if self.slug in RESERVED_SLUGS:
            raise ValidationError({"slug": "This slug is reserved."})


def active_tenant_exists(schema_name) -> models.Exists:
    """`EXISTS (an active tenant with this schema)`, for a query over rows that name a schema (an OuterRef): one
    index lookup per row, never a list of every tenant."""
    return models.Exists(Tenant.objects.filter(schema_name=schema_name, status=Tenant.Status.ACTIVE))


def tenant_is_suspended(schema_name: str) -> bool:
    """Whether the tenant of this schema is suspended: one indexed lookup (activities ask it before any work)."""
    return Tenant.objects.filter(schema_name=schema_name, status=Tenant.Status.SUSPENDED).exists()


class Domain(DomainMixin):
    def __str__(self) -> str:
        return self.domain


class UserManager(DjangoUserManager):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email)
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(None, email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(None, email, password, **extra_fields)


class User(AbstractUser):
    """A person; logs in with an email address. Super admins are `is_superuser`."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    # in every token as `tv`; raising it (password change or reset) ends every access token at once, not only
    # the refresh tokens (apps.accounts.tokens)
    token_version = models.PositiveIntegerField(default=0, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"
        VIEWER = "viewer"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant.slug}: {self.role}"


class Invitation(models.Model):
    """An emailed, single-use, expiring offer to join a tenant with a role. Only the token's hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} -> {self.tenant.slug} ({self.role})"


class ApiKey(models.Model):
    """A tenant's key for an external app: `bzs_<prefix>_<secret>`, shown once, stored as a SHA-256 hash."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    # with the `mcp` scope: the tools the key may call over MCP, as grants (apps.mcp.grants); connection,
    # collection, agent and workflow ids are of the key's tenant's schema
    mcp_tools = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (bzs_{self.prefix}_…)"


class AuditEventBase(models.Model):
    """Who did what to which object, from where. Rows are append-only (a database trigger refuses UPDATE/DELETE)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_type = models.CharField(max_length=16)  # user | api_key | system
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class PlatformAuditEvent(AuditEventBase):
    """Platform-level events (tenant created or suspended, super-admin access), in the public schema."""

    tenant_id_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    tenant_slug = models.CharField(max_length=48, blank=True)

    class Meta(AuditEventBase.Meta):
        verbose_name = "platform audit event"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


class TenantTemplate(models.Model):
    """The SQL that creates a fully migrated tenant schema (captured from `schema` after every migrate)."""

    schema = models.CharField(max_length=63)
    sql = models.TextField()
    captured_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.schema} snapshot ({len(self.sql)} bytes)"


class TenantQuota(models.Model):
    """A tenant's own limits where they differ from the platform's defaults (the QUOTA_* settings); an empty field
    means the default. Set by super admins on the tenant's page; apps.accounts.quotas enforces them."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="quota")
    api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    api_key_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    webhook_requests_per_second = models.PositiveIntegerField(null=True, blank=True)
    events_per_day = models.PositiveIntegerField(null=True, blank=True)
    agent_runs_per_day = models.PositiveIntegerField(null=True, blank=True)
    llm_tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    llm_cost_per_month_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    knowledge_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    knowledge_chunks = models.PositiveIntegerField(null=True, blank=True)
    connections = models.PositiveIntegerField(null=True, blank=True)
    workflow_configs = models.PositiveIntegerField(null=True, blank=True)
    # the tenant's share of each work class in flight (bizosaas.work; empty: TENANT_IN_FLIGHT)
    in_flight_fanout = models.PositiveSmallIntegerField(null=True, blank=True)
    in_flight_deliveries = models.PositiveSmallIntegerField(null=True, blank=True)
    in_flight_actions = models.PositiveSmallIntegerField(null=True, blank=True)
    in_flight_agents = models.PositiveSmallIntegerField(null=True, blank=True)
    in_flight_ingestion = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quota override"

    def __str__(self) -> str:
        return f"quotas of {self.tenant.slug}"
