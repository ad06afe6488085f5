from django.apps import AppConfig, apps


class OAuthConfig(AppConfig):
    name = "apps.oauth"
    label = "oauth"
    verbose_name = "OAuth for MCP clients"

    def ready(self) -> None:
        # the MCP server (a higher layer) asks its registered authenticators for bearer tokens that are not API keys
        if apps.is_installed("apps.mcp"):
            from apps.mcp.auth import register_bearer_authenticator
            from apps.oauth.principal import oauth_bearer_principal

            register_bearer_authenticator(oauth_bearer_principal)
