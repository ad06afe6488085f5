from django.urls import path

from apps.oauth import views

urlpatterns = [
    path(".well-known/oauth-protected-resource", views.protected_resource_metadata, name="oauth-prm"),
    path(".well-known/oauth-protected-resource/mcp", views.protected_resource_metadata, name="oauth-prm-mcp"),
    path(".well-known/oauth-protected-resource/mcp/", views.protected_resource_metadata),
    path(".well-known/oauth-authorization-server", views.authorization_server_metadata, name="oauth-as-metadata"),
    path("oauth/authorize", views.authorize, name="oauth-authorize"),
    path("oauth/login/", views.login, name="oauth-login"),
    path("oauth/signed-in/", views.signed_in, name="oauth-signed-in"),
    path("oauth/register", views.register, name="oauth-register"),
    path("oauth/token", views.token, name="oauth-token"),
    path("oauth/revoke", views.revoke, name="oauth-revoke"),
]
