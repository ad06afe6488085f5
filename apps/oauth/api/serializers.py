from rest_framework import serializers

from apps.oauth.models import OAuthGrant


class OAuthGrantSerializer(serializers.ModelSerializer):
    client_name = serializers.CharField(source="client.client_name", read_only=True)
    client_id = serializers.CharField(source="client.client_id", read_only=True)
    client_uri = serializers.CharField(source="client.client_uri", read_only=True)
    user_email = serializers.EmailField(source="user.email", read_only=True)
    scopes = serializers.SerializerMethodField()

    class Meta:
        model = OAuthGrant
        fields = ["id", "client_id", "client_name", "client_uri", "user_email", "scopes", "created_at", "last_used_at"]
        read_only_fields = fields

    def get_scopes(self, grant: OAuthGrant) -> list[str]:
        return grant.scope.split()
