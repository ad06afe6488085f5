"""URLs of the platform's own domains: everything of urls_tenant, plus metrics, the super-admin console and API docs."""

from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts.throttles import admin_login_throttled
from apps.integrations.receiver import receive as test_receiver
from bizosaas import health, system_health
from bizosaas.urls_tenant import urlpatterns as common

# Registered by third-party apps after ours and unaudited (deleting a BlacklistedToken would revive a revoked
# token); the console manages people through memberships and roles instead.
for _model in (Group, BlacklistedToken, OutstandingToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)

urlpatterns = [
    *common,
    path("", include("apps.oauth.urls")),  # OAuth 2.1 for MCP clients: metadata, registration, consent, tokens
    path("metrics", health.metrics, name="prometheus-django-metrics"),
    path("", include("bizosaas.urls_hooks")),  # inbound webhooks
    path("receiver/<slug:slug>/<str:token>/", test_receiver, name="test-receiver"),
    path("admin/system-health/", system_health.system_health, name="admin-system-health"),
    # the console's sign-in form, per address and per account (admin.site.login itself has no limit)
    path("admin/login/", admin_login_throttled(admin.site.login), name="admin-login-throttled"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
