from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.api_keys.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "bzs_<prefix>_<secret>",
            "description": "A tenant API key; its scopes decide what it may do.",
        }


class TenantJWTScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.tokens.TenantJWTAuthentication"
    name = "jwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from /api/v1/auth/login/; its `tenant` claim selects the tenant.",
        }
