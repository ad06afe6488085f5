"""URLs served on every host: health and the API (the tenant comes from the token, key or domain)."""

from django.urls import include, path

from bizosaas import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/v1/", include("apps.connectors.api.urls")),
    path("api/v1/", include("apps.integrations.api.urls")),
    path("api/v1/", include("apps.agents.api.config_urls")),
    path("api/v1/", include("apps.agents.api.run_urls")),
    path("api/v1/", include("apps.agents.api.knowledge_urls")),
    path("api/v1/", include("apps.oauth.api.urls")),
    path("api/v1/workflows/", include("apps.workflows.api.urls")),
    path("api/v1/", include("apps.workflows.api.inbox_urls")),
    path("api/v1/", include("bizosaas.overview")),
    path("api/v1/", include("apps.mcp.api_urls")),
    path("", include("apps.mcp.urls")),
]
