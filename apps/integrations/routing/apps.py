from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Public-schema routing of inbound webhook URLs to the tenant and endpoint they belong to."""

    name = "apps.integrations.routing"
    label = "integrations_routing"
    verbose_name = "Inbound webhook routes"
    default_auto_field = "django.db.models.BigAutoField"
