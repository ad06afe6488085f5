from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "apps.oauth"
    label = "oauth"
    verbose_name = "OAuth for MCP clients"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.mcp.auth import register_bearer_authenticator
        from apps.oauth.principal import oauth_bearer_principal

        # /mcp/ asks its registered authenticators about bearer tokens that are not API keys
        register_bearer_authenticator(oauth_bearer_principal)
