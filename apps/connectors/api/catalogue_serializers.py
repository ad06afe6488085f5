"""The shape of the connector catalogue (`Connector.describe()`), for the OpenAPI schema and typed clients."""

from rest_framework import serializers


class ConfigFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    secret = serializers.BooleanField()
    help = serializers.CharField()
    default = serializers.JSONField(allow_null=True)
    choices = serializers.ListField(child=serializers.CharField())


class ResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    model = serializers.CharField()
    description = serializers.CharField()
    window = serializers.JSONField(allow_null=True, help_text="How the resource filters by date, or null.")


class ActionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    input_schema = ConfigFieldSerializer(many=True)


class ConnectorSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    description = serializers.CharField()
    logo = serializers.CharField()
    docs_url = serializers.CharField()
    auth_type = serializers.CharField()
    auth_description = serializers.CharField(help_text="What the tenant needs to connect, in words.")
    oauth_scopes = serializers.ListField(child=serializers.CharField())
    config_schema = ConfigFieldSerializer(many=True)
    resources = ResourceSerializer(many=True)
    actions = ActionSerializer(many=True)
    webhooks = serializers.CharField(allow_null=True)
    connected_count = serializers.IntegerField()
