from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.connectors.api import views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("connectors", views.ConnectorViewSet, basename="connector")
router.register("connections", views.ConnectionViewSet, basename="connection")

urlpatterns = [
    path("oauth/callback/", views.OAuthCallbackView.as_view(), name="oauth-callback"),
    *router.urls,
]
