"""Routes of the workflows API, mounted at /api/v1/workflows/."""

from rest_framework.routers import SimpleRouter

from apps.workflows.api import views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("templates", views.TemplateViewSet, basename="workflow-template")
router.register("configs", views.ConfigViewSet, basename="workflow-config")
router.register("runs", views.RunViewSet, basename="workflow-run")
router.register("approvals", views.ApprovalViewSet, basename="workflow-approval")

urlpatterns = [*router.urls]
