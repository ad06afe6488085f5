"""The super-admin console's view of OAuth clients: every registered MCP client, and a way to disable one (it can
no longer authorize or refresh, and its tokens end at once)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q

from apps.accounts.admin import AuditedAdmin
from apps.accounts.audit.services import Actor
from apps.oauth import services
from apps.oauth.models import OAuthClient


@admin.register(OAuthClient)
class OAuthClientAdmin(AuditedAdmin):
    list_display = [
        "client_name",
        "client_id",
        "token_endpoint_auth_method",
        "redirect_uri_list",
        "live_grants",
        "created_at",
        "state",
    ]
    list_filter = ["token_endpoint_auth_method", "created_at", "disabled_at"]
    search_fields = ["client_name", "client_id"]
    fields = [
        "client_name",
        "client_id",
        "client_uri",
        "redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "scope",
        "registered_ip",
        "created_at",
        "disabled_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]
    actions = ["disable_clients", "enable_clients"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_live_grants=Count("grants", filter=Q(grants__revoked_at__isnull=True)))
        )

    @admin.display(description="live grants", ordering="_live_grants")
    def live_grants(self, client: OAuthClient) -> int:
        return client._live_grants  # type: ignore[attr-defined]

    @admin.display(description="redirect URIs")
    def redirect_uri_list(self, client: OAuthClient) -> str:
        return ", ".join(client.redirect_uris)

    @admin.display(description="state", ordering="disabled_at")
    def state(self, client: OAuthClient) -> str:
        return "disabled" if client.disabled_at else "active"

    def has_add_permission(self, request):
        return False  # clients register themselves (RFC 7591)

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: the row keeps the client's history

    def _set(self, request, queryset, *, disabled: bool):
        actor = Actor.for_user(request.user)
        changed = 0
        for client in queryset:
            if (client.disabled_at is not None) != disabled:
                services.client_set_disabled(client=client, disabled=disabled, actor=actor)
                changed += 1
        verb = "disabled" if disabled else "enabled"
        self.message_user(request, f"{changed} client(s) {verb}.", messages.SUCCESS if changed else messages.WARNING)

    @admin.action(description="Disable selected clients (their tokens end now)")
    def disable_clients(self, request, queryset):
        self._set(request, queryset, disabled=True)

    @admin.action(description="Enable selected clients")
    def enable_clients(self, request, queryset):
        self._set(request, queryset, disabled=False)
