from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.integrations.api import views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("webhooks/endpoints", views.EndpointViewSet, basename="webhook-endpoint")
router.register("webhooks/subscriptions", views.SubscriptionViewSet, basename="webhook-subscription")
router.register("webhooks/deliveries", views.DeliveryViewSet, basename="webhook-delivery")
router.register("events", views.EventViewSet, basename="event")
router.register("rules/runs", views.RuleRunViewSet, basename="rule-run")
router.register("rules", views.RuleViewSet, basename="rule")

urlpatterns = [
    path("integrations/", views.OverviewView.as_view(), name="integrations-overview"),
    path("webhooks/test-receiver/", views.TestReceiverView.as_view(), name="webhook-test-receiver"),
    *router.urls,
]
