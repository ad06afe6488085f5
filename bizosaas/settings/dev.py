from bizosaas.settings.base import *
from bizosaas.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
CONNECTORS_ALLOW_LOOPBACK = env.bool("CONNECTORS_ALLOW_LOOPBACK", default=True)
