from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from apps.accounts.access import tenant_access
from apps.accounts.permissions import MANAGE, READ, role_allows
from apps.oauth import services
from apps.oauth.api.serializers import OAuthGrantSerializer
from apps.oauth.models import OAuthGrant
from bizosaas.views import TenantScoped


@extend_schema(tags=["oauth grants"])
class OAuthGrantViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """MCP clients connected to this tenant over OAuth: your own, or everyone's for admins and owners."""

    resource = services.RESOURCE
    serializer_class = OAuthGrantSerializer
    http_method_names = ["get", "delete", "head", "options"]
    action_permissions = {"destroy": READ}  # your own; whose you may see is narrowed by the queryset

    def get_queryset(self):
        if self.schema_generation():
            return OAuthGrant.objects.none()
        access = tenant_access(self.request)
        see_all = access.is_superuser or role_allows(access.role, services.RESOURCE, MANAGE)
        return services.grants_visible(tenant=self.tenant, user=self.request.user, see_all=see_all)

    @extend_schema(responses={204: None}, description="Disconnects the client: every token under this grant ends.")
    def destroy(self, request, pk=None):
        services.grant_revoke(grant=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
