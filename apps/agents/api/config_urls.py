"""config routes of the agents API."""

from rest_framework.routers import SimpleRouter

from apps.agents.api import config_views as views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("llm-providers", views.LLMProviderViewSet, basename="llm-provider")
router.register("agent-templates", views.AgentTemplateViewSet, basename="agent-template")
router.register("agents", views.AgentViewSet, basename="agent")

urlpatterns = [*router.urls]
