"""Serializers of the agent configuration API. API keys are write-only: responses say `api_key_set` only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.agents.models import Agent, LLMProvider, ToolGrant
from apps.connectors.registry import registry
from bizosaas.last_run import LastRunSerializer, last_run

# --- LLM providers -------------------------------------------------------------------------------------------


class LLMProviderSerializer(serializers.ModelSerializer):
    kind_name = serializers.CharField(source="get_kind_display", read_only=True)
    api_key_set = serializers.SerializerMethodField(help_text="Whether an API key is stored; it is never returned.")
    base_url = serializers.CharField(read_only=True, help_text="Empty: the kind's public endpoint.")  # not always a URL

    class Meta:
        model = LLMProvider
        fields = [
            "id",
            "name",
            "kind",
            "kind_name",
            "base_url",
            "api_version",
            "default_model",
            "api_key_set",
            "last_tested_at",
            "last_test_ok",
            "last_test_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_api_key_set(self, provider: LLMProvider) -> bool:
        return bool((provider.credentials or {}).get("api_key"))


class LLMProviderCreateSerializer(serializers.Serializer):
    # blanks are accepted here so that the service reports every problem at once, kind by kind
    name = serializers.CharField(max_length=100, allow_blank=True)
    kind = serializers.ChoiceField(choices=LLMProvider.Kind.choices)
    base_url = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    api_version = serializers.CharField(max_length=40, allow_blank=True, required=False, default="")
    default_model = serializers.CharField(max_length=200, allow_blank=True)
    api_key = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, write_only=True, trim_whitespace=True
    )


class LLMProviderUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    kind = serializers.ChoiceField(choices=LLMProvider.Kind.choices, required=False)
    base_url = serializers.CharField(max_length=500, allow_blank=True, required=False)
    api_version = serializers.CharField(max_length=40, allow_blank=True, required=False)
    default_model = serializers.CharField(max_length=200, allow_blank=True, required=False)
    api_key = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        required=False,
        write_only=True,
        help_text="Omit to keep the stored key; an empty string removes it.",
    )


class ProviderTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    tested_at = serializers.DateTimeField()


# --- agents --------------------------------------------------------------------------------------------------


class ToolGrantSerializer(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    provider = serializers.CharField(source="connection.provider", read_only=True)
    provider_name = serializers.SerializerMethodField()

    class Meta:
        model = ToolGrant
        fields = [
            "connection",
            "connection_name",
            "provider",
            "provider_name",
            "resources",
            "actions",
            "action_policies",
            "allow_unattended_from_rules",
        ]
        read_only_fields = fields

    def get_provider_name(self, grant: ToolGrant) -> str:
        spec = registry.get(grant.connection.provider)
        return spec.name if spec else grant.connection.provider


class CollectionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AgentSerializer(serializers.ModelSerializer):
    temperature = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False)
    provider_name = serializers.CharField(source="provider.name", read_only=True, default=None, allow_null=True)
    effective_model = serializers.SerializerMethodField(help_text="The model runs use: own, else the provider's.")
    grants = ToolGrantSerializer(source="tool_grants", many=True, read_only=True)
    collections = CollectionRefSerializer(many=True, read_only=True)
    last_run = serializers.SerializerMethodField(help_text="The latest run, or null when it never ran.")

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "role",
            "goal",
            "backstory",
            "provider",
            "provider_name",
            "model",
            "effective_model",
            "temperature",
            "max_iterations",
            "max_execution_time",
            "enabled",
            "template",
            "grants",
            "collections",
            "last_run",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_effective_model(self, agent: Agent) -> str:
        return agent.model or (agent.provider.default_model if agent.provider else "")

    @extend_schema_field(LastRunSerializer(allow_null=True))
    def get_last_run(self, agent: Agent) -> dict | None:
        return last_run(agent, agent.runs.all(), at="created_at")


class AgentWriteSerializer(serializers.Serializer):
    """Shapes only; ranges, blanks and ids of this tenant are checked by the service (all errors at once)."""

    name = serializers.CharField(max_length=100, allow_blank=True)
    role = serializers.CharField(max_length=200, allow_blank=True)
    goal = serializers.CharField(max_length=2000, allow_blank=True)
    backstory = serializers.CharField(max_length=8000, allow_blank=True, required=False, default="")
    provider = serializers.IntegerField(allow_null=True, required=False, default=None)
    model = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    temperature = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, default="0.70")  # type: ignore[arg-type]
    max_iterations = serializers.IntegerField(required=False, default=10)
    max_execution_time = serializers.IntegerField(required=False, default=120)
    enabled = serializers.BooleanField(required=False, default=True)
    collections = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class GrantInputSerializer(serializers.Serializer):
    connection = serializers.IntegerField()
    resources = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    actions = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    action_policies = serializers.DictField(
        child=serializers.ChoiceField(choices=["allow", "ask"]),
        required=False,
        default=dict,
        help_text="Per granted action: allow (performed at once) or ask (waits for a person's approval).",
    )
    allow_unattended_from_rules = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Runs started by a rule perform writes without asking (by default they ask).",
    )


class GrantsSerializer(serializers.Serializer):
    """The documented shape; the body is checked by the service so that errors carry `grants.0.actions.1` paths."""

    grants = GrantInputSerializer(many=True)


class GrantsInputSerializer(serializers.Serializer):
    grants = serializers.ListField(child=serializers.JSONField())


class AvailableItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    granted = serializers.BooleanField()


class AvailableActionSerializer(AvailableItemSerializer):
    policy = serializers.ChoiceField(choices=["allow", "ask"])


class AvailableConnectionSerializer(serializers.Serializer):
    connection = serializers.DictField()
    resources = AvailableItemSerializer(many=True)
    actions = AvailableActionSerializer(many=True)
    allow_unattended_from_rules = serializers.BooleanField()


# --- templates -----------------------------------------------------------------------------------------------


class AgentTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    role = serializers.CharField()
    goal = serializers.CharField()
    backstory = serializers.CharField()
    temperature = serializers.FloatField()
    max_iterations = serializers.IntegerField()
    suggested_categories = serializers.ListField(child=serializers.CharField())


class TemplateInstallSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    provider = serializers.IntegerField(required=False, allow_null=True, default=None)
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
