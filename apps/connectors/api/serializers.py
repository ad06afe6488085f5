from rest_framework import serializers

from apps.connectors.models import Connection, ConnectionCheck
from apps.connectors.registry import registry

MASK = "********"


class ConnectionSerializer(serializers.ModelSerializer):
    secrets = serializers.SerializerMethodField(help_text="Which secret fields are set; values are never returned.")
    provider_name = serializers.SerializerMethodField()
    authorised = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "provider",
            "provider_name",
            "name",
            "config",
            "secrets",
            "authorised",
            "status",
            "last_checked_at",
            "last_latency_ms",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_secrets(self, connection: Connection) -> dict[str, str | None]:
        provider = registry.get(connection.provider)
        names = [f.name for f in provider.config_fields if f.secret] if provider else []
        return {name: MASK if connection.credentials.get(name) else None for name in names}

    def get_provider_name(self, connection: Connection) -> str:
        provider = registry.get(connection.provider)
        return provider.name if provider else connection.provider

    def get_authorised(self, connection: Connection) -> bool | None:
        provider = registry.get(connection.provider)
        if provider is None or provider.auth.type != "oauth2":
            return None
        return bool(connection.credentials.get("access_token"))


class ConnectionCreateSerializer(serializers.Serializer):
    provider = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100, allow_blank=True)  # checked with the config, all errors at once
    config = serializers.DictField(default=dict)


class ConnectionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    config = serializers.DictField(required=False)


class ConnectionCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectionCheck
        fields = ["id", "ok", "latency_ms", "error", "trigger", "checked_at"]
        read_only_fields = fields


class RecordSerializer(serializers.Serializer):
    id = serializers.CharField()
    data = serializers.DictField()  # type: ignore[assignment]
    raw = serializers.JSONField()


class PageSerializer(serializers.Serializer):
    resource = serializers.CharField()
    model = serializers.CharField()
    records = RecordSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    cached = serializers.BooleanField()


class ActionSerializer(serializers.Serializer):
    input = serializers.DictField(default=dict)


class OAuthStartSerializer(serializers.Serializer):
    authorization_url = serializers.URLField()


class OAuthCompleteSerializer(serializers.Serializer):
    state = serializers.CharField(max_length=2000, help_text="The `authorise` value the callback redirected with.")


class OAuthCallbackSerializer(serializers.Serializer):
    connection = serializers.IntegerField()
    status = serializers.CharField()
    redirect = serializers.URLField(help_text="The portal page that completes the authorisation.")
