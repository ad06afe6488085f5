"""knowledge routes of the agents API."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from apps.agents.api import knowledge_views as views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("knowledge/collections", views.CollectionViewSet, basename="knowledge-collection")
router.register("knowledge/documents", views.DocumentViewSet, basename="knowledge-document")

urlpatterns = [
    re_path(r"^knowledge/search/?$", views.SearchView.as_view(), name="knowledge-search"),
    *router.urls,
]
