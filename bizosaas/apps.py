from django.apps import AppConfig


class BizosaasConfig(AppConfig):
    name = "bizosaas"
    verbose_name = "BizOSaaS platform"
