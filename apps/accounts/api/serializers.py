from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts import quotas
from apps.accounts.audit.models import AuditEvent
from apps.accounts.models import ApiKey, Invitation, Membership, Tenant, User
from apps.accounts.permissions import SCOPES

ROLE_CHOICES = Membership.Role.choices


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "status", "approver_must_differ", "created_at"]
        read_only_fields = ["slug", "status", "created_at"]


@extend_schema_field(OpenApiTypes.NUMBER)
class AmountField(serializers.Field):
    """A count as an integer, an amount of money as a decimal number."""

    def to_representation(self, value):
        return float(value) if isinstance(value, Decimal) else value


class UsageLimitSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=quotas.KEYS, help_text="Also `limit` in a quota_exceeded error.")
    label = serializers.CharField()  # type: ignore[assignment]
    unit = serializers.CharField(help_text="requests, events, runs, tokens, USD, bytes, chunks, connections, ...")
    period = serializers.ChoiceField(choices=quotas.PERIODS, help_text="UTC windows; none for capacities.")
    kind = serializers.ChoiceField(choices=quotas.KINDS, help_text="rate: resets with its window (429); capacity: 403.")
    per = serializers.CharField(help_text="Kept per API key or per endpoint (usage: the busiest one); empty: tenant.")
    limit_value = AmountField()
    usage = AmountField(allow_null=True, help_text="Null when the rate counters cannot be read right now.")
    resets_at = serializers.DateTimeField(allow_null=True, help_text="End of the current window (UTC).")


class UsageSerializer(serializers.Serializer):
    limits = UsageLimitSerializer(many=True)


class MembershipTenantSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="tenant.slug")
    name = serializers.CharField(source="tenant.name")
    status = serializers.CharField(source="tenant.status")

    class Meta:
        model = Membership
        fields = ["slug", "name", "status", "role"]


class MeSerializer(serializers.ModelSerializer):
    memberships = MembershipTenantSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "is_superuser", "memberships"]


class CurrentTenantSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeResponseSerializer(MeSerializer):
    """GET /auth/me/: the person, the tenant the token acts on, and what their role may do there
    (resource -> actions of the permission matrix)."""

    tenant = CurrentTenantSerializer(allow_null=True, read_only=True)
    permissions = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), read_only=True)

    class Meta(MeSerializer.Meta):
        fields = [*MeSerializer.Meta.fields, "tenant", "permissions"]


class RegisterSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    tenant_name = serializers.CharField(max_length=200)
    tenant_slug = serializers.CharField(max_length=48)


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    tenant = serializers.CharField(max_length=48, required=False, allow_blank=True)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    tenant = serializers.CharField(allow_null=True)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class SwitchTenantSerializer(serializers.Serializer):
    tenant = serializers.CharField(max_length=48)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False)
    new_password = serializers.CharField(trim_whitespace=False)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField()
    token = serializers.CharField()
    new_password = serializers.CharField(trim_whitespace=False)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    user_id = serializers.IntegerField(read_only=True, help_text="The person, as audit entries name them.")

    class Meta:
        model = Membership
        fields = ["id", "user_id", "email", "first_name", "last_name", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at"]
        read_only_fields = fields

    def get_status(self, invitation: Invitation) -> str:
        from django.utils import timezone

        if invitation.accepted_at:
            return "accepted"
        if invitation.revoked_at:
            return "revoked"
        return "expired" if invitation.expires_at <= timezone.now() else "pending"


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


MCP_TOOLS_HELP = (
    "With the `mcp` scope: the tools the key may call over MCP, as grants: "
    "`{connection, resources, actions}` per connection, and `{collections, agents, workflows}` (lists of ids)."
)


class McpGrantSerializer(serializers.Serializer):
    connection = serializers.IntegerField(required=False)
    resources = serializers.ListField(child=serializers.CharField(), required=False)
    actions = serializers.ListField(child=serializers.CharField(), required=False)
    action_policies = serializers.DictField(
        child=serializers.ChoiceField(choices=["allow", "ask"]), required=False, help_text="{action: allow | ask}"
    )
    collections = serializers.ListField(child=serializers.IntegerField(), required=False)
    agents = serializers.ListField(child=serializers.IntegerField(), required=False)
    workflows = serializers.ListField(child=serializers.IntegerField(), required=False)


@extend_schema_field(McpGrantSerializer(many=True))
class McpToolsField(serializers.JSONField):
    """Grants as JSON, checked by the service rather than here (its errors carry paths like mcp_tools.0.actions.1)."""


class ApiKeySerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    mcp_tools = McpToolsField(read_only=True)
    key_prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "key_prefix",
            "scopes",
            "mcp_tools",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_key_prefix(self, key: ApiKey) -> str:
        return f"bzs_{key.prefix}"

    def get_status(self, key: ApiKey) -> str:
        from django.utils import timezone

        if key.revoked_at:
            return "revoked"
        return "expired" if key.expires_at and key.expires_at <= timezone.now() else "active"


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=sorted(SCOPES)), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    # validated by the service (apps.mcp.grants), which gives field paths such as mcp_tools.0.actions.1
    mcp_tools = McpToolsField(required=False, default=list, help_text=MCP_TOOLS_HELP)


class ApiKeyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    mcp_tools = McpToolsField(required=False, help_text=MCP_TOOLS_HELP)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The full key. Shown only in this response.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_type",
            "actor_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "ip",
            "user_agent",
            "request_id",
        ]
        read_only_fields = fields
