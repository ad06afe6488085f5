"""Production: real services from the environment (DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS are required),
HTTPS-only cookies, HSTS, hosts and trusted origins from the environment, static files served by WhiteNoise."""

from django.core.exceptions import ImproperlyConfigured

from bizosaas.settings.base import *
from bizosaas.settings.base import MIDDLEWARE, SECRET_KEY, env

if SECRET_KEY.startswith("dev-"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production")
for _name in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"):
    # base.py falls back to the embedded servers when these are empty; production never does
    if not env.str(_name, default=""):
        raise ImproperlyConfigured(f"{_name} must be set in production")
if not env.list("CREDENTIALS_KEYS", default=[]):
    raise ImproperlyConfigured("CREDENTIALS_KEYS must be set in production (Fernet keys, comma-separated)")

DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")  # required: no default in production
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Probes and Prometheus speak plain HTTP inside the network
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# WhiteNoise (already in MIDDLEWARE) serves the collected files with far-future caching; no finders in production
if "whitenoise.middleware.WhiteNoiseMiddleware" not in MIDDLEWARE:
    raise ImproperlyConfigured("WhiteNoiseMiddleware is expected in MIDDLEWARE")
STATIC_ROOT = env.path("STATIC_ROOT", default="/app/staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
WHITENOISE_MANIFEST_STRICT = False  # a missing file is served as 404, not a 500 of the whole page

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
CELERY_METRICS_BIND = env.str("CELERY_METRICS_BIND", default="0.0.0.0:9465")  # the container network
TEMPORAL_METRICS_BIND = env.str("TEMPORAL_METRICS_BIND", default="0.0.0.0:9464")
GRAFANA_URL = env.str("GRAFANA_URL", default="")
