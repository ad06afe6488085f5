from rest_framework.routers import SimpleRouter

from apps.oauth.api import views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("oauth-grants", views.OAuthGrantViewSet, basename="oauth-grant")

urlpatterns = router.urls
