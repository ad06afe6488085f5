"""URLs of the platform's own domains: everything of urls_tenant, plus the super-admin console and API docs."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bizosaas.urls_tenant import urlpatterns as common

urlpatterns = [
    *common,
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
