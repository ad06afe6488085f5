"""The smallest Wagtail site for the connector tests: Wagtail's own Page model, API v2 public at /api/v2/ and behind
Django REST framework's token authentication at /api/private/v2/, SQLite in the folder BIZOSAAS_WAGTAIL_DIR."""

import os
from pathlib import Path

HERE = Path(os.environ["BIZOSAAS_WAGTAIL_DIR"])
SECRET_KEY = "bizosaas-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "site_urls"
USE_TZ = True
TIME_ZONE = "Asia/Tokyo"  # not UTC, so that days differ between the site and UTC
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "taggit",
    "modelcluster",
    "rest_framework",
    "rest_framework.authtoken",
    "wagtail.sites",
    "wagtail.search",
    "wagtail",
    "wagtail.api.v2",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(HERE / "wagtail.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
WAGTAIL_SITE_NAME = "BizOSaaS tests"
WAGTAILADMIN_BASE_URL = "http://localhost"
WAGTAILAPI_LIMIT_MAX = 20
STATIC_URL = "/static/"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "DIRS": []}]
