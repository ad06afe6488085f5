"""The URL conf of inbound webhooks, `/hooks/<token>/`: part of urls_public, and the whole URL conf of the lean
handler that bizosaas.wsgi serves those paths with (settings.HOOKS_MIDDLEWARE)."""

from django.urls import path

from apps.integrations.inbound_views import receive

urlpatterns = [
    path("hooks/<str:token>/", receive, name="webhook-receive"),
]
