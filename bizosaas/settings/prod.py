from django.core.exceptions import ImproperlyConfigured

from bizosaas.settings.base import *
from bizosaas.settings.base import SECRET_KEY, env

if SECRET_KEY.startswith("dev-"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production")
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
if not env.list("CREDENTIALS_KEYS", default=[]):
    raise ImproperlyConfigured("CREDENTIALS_KEYS must be set in production (Fernet keys, comma-separated)")
