"""run routes of the agents API."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from apps.agents.api import run_views as views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("runs", views.RunViewSet, basename="agent-run")
router.register("conversations", views.ConversationViewSet, basename="conversation")

urlpatterns = [
    re_path(r"^agents/(?P<agent_id>\d+)/runs/?$", views.AgentRunStartView.as_view(), name="agent-run-start"),
    *router.urls,
]
