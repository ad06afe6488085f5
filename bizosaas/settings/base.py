"""Settings shared by every environment. Values that differ per deployment come from `bizosaas.env`."""

from __future__ import annotations

import os
from datetime import timedelta

from kombu import Queue

from bizosaas.env import BASE_DIR, database_url, env, redis_url, temporal_address

SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-local-only-key-never-used-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Apps that live in the public schema only; TENANT_APPS get one copy per tenant schema.
SHARED_APPS = [
    "bizosaas",  # before django_tenants: its migrate/migrate_schemas add the pgvector check
    "django_tenants",
    "apps.accounts",
    "apps.integrations.routing",
    "apps.oauth",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_prometheus",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "apps.accounts.audit",
    "apps.connectors",
    "apps.integrations",
    "apps.agents",
    "apps.workflows",
    "apps.mcp",  # no models: the MCP server over the apps above
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "accounts.Tenant"
TENANT_DOMAIN_MODEL = "accounts.Domain"
PUBLIC_SCHEMA_NAME = "public"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "bizosaas.observability.RequestContextMiddleware",
    "bizosaas.body_limit.BodyLimitMiddleware",  # before anything reads the body
    "apps.accounts.access.TenantResolutionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "bizosaas.observability.RequestLogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# The console's own middleware (/admin/: a session cookie, CSRF-protected forms, messages, static files). The other
# two stacks are MIDDLEWARE without it, in the same order (bizosaas.wsgi serves them):
CONSOLE_ONLY_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
}
# `/api/`: every request is authenticated by its Bearer header (a JWT or an API key, never a cookie:
# REST_FRAMEWORK's authentication classes below)
API_MIDDLEWARE = [name for name in MIDDLEWARE if name not in CONSOLE_ONLY_MIDDLEWARE]
# `/hooks/<token>/`: a webhook has no cookie and no user; the view verifies the sender's signature and reads at
# most WEBHOOK_MAX_BODY_BYTES of its body itself
HOOKS_MIDDLEWARE = [name for name in API_MIDDLEWARE if name != "bizosaas.body_limit.BodyLimitMiddleware"]
HOOKS_URLCONF = "bizosaas.urls_hooks"

ROOT_URLCONF = "bizosaas.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "bizosaas.urls_public"
WSGI_APPLICATION = "bizosaas.wsgi.application"
ASGI_APPLICATION = "bizosaas.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db_url_config(database_url())}
DATABASES["default"]["ENGINE"] = "bizosaas.db"  # django-tenants' backend, one SET search_path per change
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# a connection used less than this long ago is health-checked on the client (bizosaas.db), without `SELECT 1`
DB_HEALTH_CHECK_QUIET_SECONDS = env.float("DB_HEALTH_CHECK_QUIET_SECONDS", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = redis_url()
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        # a Redis outage degrades caching and throttling instead of failing requests
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, "IGNORE_EXCEPTIONS": True},
    },
    # Keys that mean the same on every host (sign-in throttles, ended sessions): not prefixed by the schema the
    # request resolved, so one account's bucket is one bucket whichever tenant's domain is asked.
    "global": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "global",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, "IGNORE_EXCEPTIONS": True},
    },
}

TEMPORAL_ADDRESS = temporal_address()
TEMPORAL_NAMESPACE = env.str("TEMPORAL_NAMESPACE", default="default")
TEMPORAL_TASK_QUEUE = env.str("TEMPORAL_TASK_QUEUE", default="bizosaas")
# The Temporal worker's SDK metrics (Prometheus); empty disables them
TEMPORAL_METRICS_BIND = env.str("TEMPORAL_METRICS_BIND", default="127.0.0.1:9464")
# the platform's own counters served by the Celery worker and by the Temporal worker (empty: not served)
CELERY_METRICS_BIND = env.str("CELERY_METRICS_BIND", default="127.0.0.1:9465")
TEMPORAL_APP_METRICS_BIND = env.str("TEMPORAL_APP_METRICS_BIND", default="127.0.0.1:9466")
GRAFANA_URL = env.str("GRAFANA_URL", default="")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.api_keys.ApiKeyAuthentication",
        "apps.accounts.tokens.TenantJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "bizosaas.api.JSONObjectParser",  # a JSON body is an object, never an array or a scalar
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "bizosaas.api.LimitOffsetPagination",  # capped at API_MAX_PAGE_SIZE
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bizosaas.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.quotas.ApiQuotaThrottle"],  # per tenant and per API key
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "login_email": env.str("THROTTLE_LOGIN_EMAIL", default="10/min"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="5/min"),
        "password_reset_email": env.str("THROTTLE_PASSWORD_RESET_EMAIL", default="3/hour"),
        "admin_login": env.str("THROTTLE_ADMIN_LOGIN", default="10/min"),
        "admin_login_email": env.str("THROTTLE_ADMIN_LOGIN_EMAIL", default="10/min"),
        "register": env.str("THROTTLE_REGISTER", default="20/hour"),
        "oauth_register": env.str("THROTTLE_OAUTH_REGISTER", default="30/hour"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BizOSaaS gateway API",
    "DESCRIPTION": "Multi-tenant AI integration hub. Authenticate with a JWT (`/api/v1/auth/login/`) or an API key "
    "(`Authorization: Bearer bzs_...`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.accounts.models.Membership.Role",
        "LLMProviderKindEnum": "apps.agents.models.LLMProvider.Kind",
        "RunStepKindEnum": "apps.agents.models.RunStep.Kind",
        "AgentRunStatusEnum": "apps.agents.models.AgentRun.Status",
        "DocumentStatusEnum": "apps.agents.models.Document.Status",
        "EventStatusEnum": "apps.integrations.models.Event.Status",
        "DeliveryStatusEnum": "apps.integrations.models.Delivery.Status",
        "RuleRunStatusEnum": "apps.integrations.models.RuleRun.Status",
        "WorkflowRunStatusEnum": "apps.workflows.models.WorkflowRun.Status",
        "WorkflowApprovalStatusEnum": "apps.workflows.models.WorkflowApproval.Status",
        "QuotaKeyEnum": "apps.accounts.quotas.KEYS",
        "QuotaPeriodEnum": "apps.accounts.quotas.PERIODS",
        "QuotaKindEnum": "apps.accounts.quotas.KINDS",
    },
}
# How many proxies in front of the gateway append to X-Forwarded-For (the portal's server is one: it sets the
# header from its own socket peer). 0: the socket peer (REMOTE_ADDR) is the client and the header is ignored.
# With N, the N-th address from the right is the client's, and only when the socket peer is in
# TRUSTED_PROXY_NETWORKS (CIDRs; empty: any peer). Throttles, the audit log and request logs all use it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXY_NETWORKS = env.list("TRUSTED_PROXY_NETWORKS", default=[])

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task does not lose it
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "bizosaas"
# Celery closes the database connections before and after every task unless this is set: a new PostgreSQL backend
# (fork, authentication, search path) for each delivery or action. With it a worker process keeps its connection
# and reopens it every this many tasks; DB_CONN_MAX_AGE and the health check still retire an old or broken one.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Work classes (bizosaas.work): each its own queue and workers. A worker started without -Q consumes them all
# (tests, a one-process setup); `make run` and the compose stack start one worker per class.
CELERY_TASK_QUEUES = tuple(
    Queue(name) for name in (CELERY_TASK_DEFAULT_QUEUE, "fanout", "deliveries", "actions", "agents", "ingestion")
)
CELERY_TASK_TIME_LIMIT = 600  # a backstop for any task without its own limits
CELERY_TASK_SOFT_TIME_LIMIT = 540
# How long a finished fan-out, delivery or action task goes on running its tenant's parked tasks of the class in
# the same worker before it hands the worker back (bizosaas.work); 0 turns it off
TENANT_WORK_SLICE_SECONDS = env.float("TENANT_WORK_SLICE_SECONDS", default=1.0)
# How many of one tenant's tasks of each class run at once across every worker (parked beyond that); keep each
# below its worker's concurrency, so no single tenant can take a whole worker
TENANT_IN_FLIGHT = {
    "fanout": env.int("TENANT_IN_FLIGHT_FANOUT", default=1),
    "deliveries": env.int("TENANT_IN_FLIGHT_DELIVERIES", default=2),
    "actions": env.int("TENANT_IN_FLIGHT_ACTIONS", default=1),
    "agents": env.int("TENANT_IN_FLIGHT_AGENTS", default=1),
    "ingestion": env.int("TENANT_IN_FLIGHT_INGESTION", default=1),
}
# Worker processes per class started by `make run` (sized for 2 cores; deliveries and actions mostly wait)
CELERY_CONCURRENCY = {
    "fanout": env.int("CELERY_FANOUT_CONCURRENCY", default=2),
    "deliveries": env.int("CELERY_DELIVERIES_CONCURRENCY", default=4),
    "actions": env.int("CELERY_ACTIONS_CONCURRENCY", default=2),
    "agents": env.int("CELERY_AGENTS_CONCURRENCY", default=2),
    "ingestion": env.int("CELERY_INGESTION_CONCURRENCY", default=1),
}

PROMETHEUS_EXPORT_MIGRATIONS = False

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "bizosaas.observability.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "bizosaas.observability.JsonFormatter",
        },
        "console": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "default": {
            "class": "bizosaas.observability.BackgroundHandler",  # INFO lines written off the request's path
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "temporalio": {"level": "WARNING"},
        # httpx logs every URL at INFO, query strings included (some providers take tokens there)
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

DEMO_TENANT_SLUG = "demo"
DEMO_OWNER_EMAIL = env.str("DEMO_OWNER_EMAIL", default="owner@demo.localhost")
DEMO_OWNER_PASSWORD = env.str("DEMO_OWNER_PASSWORD", default="demo-owner-pass-2026")
DEMO_ADMIN_EMAIL = env.str("DEMO_ADMIN_EMAIL", default="admin@platform.localhost")
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="local-superadmin-2026")
GATEWAY_URL = env.str("GATEWAY_URL", default="http://localhost:8000")
TENANT_BASE_DOMAIN = env.str("TENANT_BASE_DOMAIN", default="localhost")
PUBLIC_DOMAINS = env.list("PUBLIC_DOMAINS", default=["localhost", "127.0.0.1"])
# /metrics (platform domains only) asks for `Authorization: Bearer <METRICS_TOKEN>`; empty: loopback callers only
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PORTAL_URL = env.str("PORTAL_URL", default="http://localhost:3000")
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
TENANT_TEMPLATE_SCHEMA = "tenant_template"  # migrated on every migrate; new tenants are made from its snapshot
TENANT_LIMIT_SET_CALLS = True  # one `SET search_path` per schema switch, not one per query

# Connectors
CONNECTOR_TIMEOUT = env.float("CONNECTOR_TIMEOUT", default=15.0)  # per socket operation (connect, each read)
# One provider call in total (connect, TLS, send, the whole response, retries and their waits)
CONNECTOR_DEADLINE = env.float("CONNECTOR_DEADLINE", default=30.0)
# resolving a host name, within the call's deadline: a resolver that never answers cannot hold a caller
DNS_TIMEOUT = env.float("DNS_TIMEOUT", default=5.0)
CONNECTOR_MAX_RESPONSE_BYTES = env.int("CONNECTOR_MAX_RESPONSE_BYTES", default=16 * 1024 * 1024)
CONNECTOR_MAX_RETRIES = env.int("CONNECTOR_MAX_RETRIES", default=3)
CONNECTOR_BACKOFF_BASE = env.float("CONNECTOR_BACKOFF_BASE", default=0.5)
CONNECTOR_MAX_RETRY_AFTER = env.float("CONNECTOR_MAX_RETRY_AFTER", default=30.0)
# Calls in flight per connection across every process (Redis); a caller waits this long for a place
CONNECTOR_MAX_CONCURRENCY = env.int("CONNECTOR_MAX_CONCURRENCY", default=4)
CONNECTOR_CONCURRENCY_WAIT = env.float("CONNECTOR_CONCURRENCY_WAIT", default=10.0)
CONNECTION_HEALTH_MINUTES = env.int("CONNECTION_HEALTH_MINUTES", default=15)
# Provider calls inside gateway requests (test, live preview, actions, LLM provider test): a total deadline, and
# how many may be in flight per tenant and per gateway process (make run's gateway has 16 threads)
GATEWAY_PROVIDER_DEADLINE = env.float("GATEWAY_PROVIDER_DEADLINE", default=15.0)
GATEWAY_PROVIDER_CALLS_PER_TENANT = env.int("GATEWAY_PROVIDER_CALLS_PER_TENANT", default=2)
GATEWAY_PROVIDER_CALLS_PER_PROCESS = env.int("GATEWAY_PROVIDER_CALLS_PER_PROCESS", default=8)
CONNECTOR_CACHE_TTL = env.int("CONNECTOR_CACHE_TTL", default=60)
CONNECTORS_ALLOW_LOOPBACK = env.bool("CONNECTORS_ALLOW_LOOPBACK", default=False)
CONNECTORS_ALLOW_PRIVATE = env.bool("CONNECTORS_ALLOW_PRIVATE", default=False)
# Fernet keys, comma-separated: the first encrypts, all decrypt (rotate with `manage.py rotate_credentials_key`).
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[])
# OAuth 2.1 for MCP clients (apps.oauth): how long an access token lives, and a refresh token (each refresh
# replaces both)
OAUTH_ACCESS_TOKEN_SECONDS = env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=3600)
OAUTH_REFRESH_TOKEN_DAYS = env.int("OAUTH_REFRESH_TOKEN_DAYS", default=30)
# Per-provider OAuth endpoint overrides, e.g. {"hubspot": {"authorize_url": ..., "token_url": ...}} (tests, proxies)
OAUTH_ENDPOINT_OVERRIDES: dict = {}

# Integrations: inbound and outbound webhooks, automation rules
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_ROUTE_CACHE_SECONDS = 10.0  # how long a gateway process trusts a token -> tenant route it looked up
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=15.0)  # one delivery attempt in total, as Svix does
# Seconds before each retry: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (jittered by 10 %).
WEBHOOK_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
WEBHOOK_MAX_RETRY_AFTER = 24 * 3600
WEBHOOK_SECRET_GRACE_SECONDS = env.int("WEBHOOK_SECRET_GRACE_SECONDS", default=24 * 3600)
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 24 * 3600)
WEBHOOK_DISABLE_MIN_FAILURES = env.int("WEBHOOK_DISABLE_MIN_FAILURES", default=20)
# The built-in test receiver (apps.integrations.receiver): per workspace, the newest requests it keeps, how much of
# each body, and how many requests a minute it takes (429 beyond)
TEST_RECEIVER_KEEP = env.int("TEST_RECEIVER_KEEP", default=50)
TEST_RECEIVER_MAX_BODY_BYTES = env.int("TEST_RECEIVER_MAX_BODY_BYTES", default=64 * 1024)
TEST_RECEIVER_REQUESTS_PER_MINUTE = env.int("TEST_RECEIVER_REQUESTS_PER_MINUTE", default=60)
RULE_ACTION_MAX_ATTEMPTS = 5
# Rule actions one task performs, one after the other, starting none after TENANT_WORK_SLICE_SECONDS
ACTION_BATCH_SIZE = env.int("ACTION_BATCH_SIZE", default=16)
RULE_ACTION_BACKOFF_SECONDS = 10.0
RULE_ACTION_STALE_SECONDS = 600
INTEGRATIONS_REQUEUE_AFTER_SECONDS = 60
# Task time limits (soft, hard) per work class: a backstop behind the HTTP deadlines
FANOUT_TIME_LIMITS = (120, 150)
# Deliveries one task sends at once (its POSTs run together, so a batch takes as long as its slowest endpoint)
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=16)
DELIVERY_TIME_LIMITS = (WEBHOOK_TIMEOUT + 15, WEBHOOK_TIMEOUT + 30)
ACTION_TIME_LIMITS = (CONNECTOR_DEADLINE * 2 + 30, CONNECTOR_DEADLINE * 2 + 60)
KNOWLEDGE_INGEST_TIME_LIMIT = env.int("KNOWLEDGE_INGEST_TIME_LIMIT", default=1200)  # one document, seconds
INGESTION_TIME_LIMITS = (KNOWLEDGE_INGEST_TIME_LIMIT, KNOWLEDGE_INGEST_TIME_LIMIT + 60)
# A delivery still "sending" after this was cut off with its worker (its attempt can no longer be running)
DELIVERY_STALE_SECONDS = DELIVERY_TIME_LIMITS[1] + 30
INTEGRATIONS_EVENT_GRACE_SECONDS = 30  # a pending event younger than this is still on its way to the broker
INTEGRATIONS_BROKER_PAUSE_SECONDS = 5.0  # after a failed publish, skip the broker this long
INTEGRATIONS_SWEEP_SECONDS = env.float("INTEGRATIONS_SWEEP_SECONDS", default=15.0)
MIGRATE_PARALLEL = env.int("MIGRATE_PARALLEL", default=2)  # tenant schemas migrated at once by migrate_schemas
SWEEP_MAX_SCHEMAS = 500  # tenant schemas with owed work visited per sweep, the longest-waiting first
# An approval nobody decided expires after this (its run then fails with "Approval expired")
AGENT_APPROVAL_EXPIRY_MINUTES = env.int("AGENT_APPROVAL_EXPIRY_MINUTES", default=24 * 60)
AGENT_APPROVAL_SWEEP_SECONDS = env.float("AGENT_APPROVAL_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "integrations-sweep": {
        "task": "integrations.sweep",
        "schedule": INTEGRATIONS_SWEEP_SECONDS,
        "options": {"queue": "fanout"},
    },
    "agents-approval-expiry": {
        "task": "agents.expire_approvals",
        "schedule": AGENT_APPROVAL_SWEEP_SECONDS,
        "options": {"queue": "fanout"},
    },
}
# Publishing must fail fast when Redis is down (the request has already stored its work).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2

# AI agents. CrewAI phones home and keeps shared files unless told otherwise: every process is told.
for _name, _value in (
    ("CREWAI_DISABLE_TELEMETRY", "true"),
    ("CREWAI_TRACING_ENABLED", "false"),
    ("OTEL_SDK_DISABLED", "true"),
    ("HF_HUB_OFFLINE", "1"),  # the embedding model ships in a package; nothing is downloaded
    ("TRANSFORMERS_OFFLINE", "1"),
):
    os.environ.setdefault(_name, _value)
AGENT_RUN_TIMEOUT_SECONDS = 1800  # the ceiling of an agent's own max_execution_time
# One model call in total; a run's calls also end by the run's own time limit
LLM_CALL_DEADLINE = env.float("LLM_CALL_DEADLINE", default=120.0)
# Agents allowed to run longer than this run as a Temporal workflow (durable); shorter ones on Celery
AGENT_DURABLE_AFTER_SECONDS = env.int("AGENT_DURABLE_AFTER_SECONDS", default=300)
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
KNOWLEDGE_EMBEDDER = env.str("KNOWLEDGE_EMBEDDER", default="local")  # local | openai_compatible
# Load the local embedding model when the gateway starts (a background thread; /readyz answers 503 until it is in),
# so that no search request pays the 5 to 15 s of loading it
KNOWLEDGE_PRELOAD_MODEL = env.bool("KNOWLEDGE_PRELOAD_MODEL", default=True)
# With KNOWLEDGE_EMBEDDER=openai_compatible: an endpoint serving POST /embeddings (asked for 384 dimensions)
KNOWLEDGE_EMBEDDING_URL = env.str("KNOWLEDGE_EMBEDDING_URL", default="")
KNOWLEDGE_EMBEDDING_MODEL = env.str("KNOWLEDGE_EMBEDDING_MODEL", default="")
KNOWLEDGE_EMBEDDING_API_KEY = env.str("KNOWLEDGE_EMBEDDING_API_KEY", default="")

# Bounds on input
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=200)  # the most items one page of any list holds
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)  # larger bodies answer 413 (not /hooks/)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES  # Django's own cap (form fields) says the same
# A Word file (a zip) may expand to this much, and a PDF's text may be this long
KNOWLEDGE_MAX_EXTRACTED_BYTES = env.int("KNOWLEDGE_MAX_EXTRACTED_BYTES", default=50 * 1024 * 1024)
KNOWLEDGE_MAX_COMPRESSION_RATIO = env.int("KNOWLEDGE_MAX_COMPRESSION_RATIO", default=100)
KNOWLEDGE_MAX_ARCHIVE_MEMBERS = env.int("KNOWLEDGE_MAX_ARCHIVE_MEMBERS", default=5000)
KNOWLEDGE_MAX_PDF_PAGES = env.int("KNOWLEDGE_MAX_PDF_PAGES", default=2000)

# Quotas (platform defaults; per-tenant overrides in admin)
QUOTA_API_REQUESTS_PER_MINUTE = env.int("QUOTA_API_REQUESTS_PER_MINUTE", default=1200)  # people and keys together
QUOTA_API_KEY_REQUESTS_PER_MINUTE = env.int("QUOTA_API_KEY_REQUESTS_PER_MINUTE", default=600)
QUOTA_WEBHOOK_REQUESTS_PER_SECOND = env.int("QUOTA_WEBHOOK_REQUESTS_PER_SECOND", default=100)  # per inbound endpoint
QUOTA_EVENTS_PER_DAY = env.int("QUOTA_EVENTS_PER_DAY", default=100_000)  # UTC days
QUOTA_AGENT_RUNS_PER_DAY = env.int("QUOTA_AGENT_RUNS_PER_DAY", default=500)
QUOTA_LLM_TOKENS_PER_MONTH = env.int("QUOTA_LLM_TOKENS_PER_MONTH", default=5_000_000)  # UTC calendar months
QUOTA_LLM_COST_PER_MONTH_USD = env.float("QUOTA_LLM_COST_PER_MONTH_USD", default=50.0)
QUOTA_KNOWLEDGE_BYTES = env.int("QUOTA_KNOWLEDGE_BYTES", default=500 * 1024 * 1024)
QUOTA_KNOWLEDGE_CHUNKS = env.int("QUOTA_KNOWLEDGE_CHUNKS", default=200_000)
QUOTA_CONNECTIONS = env.int("QUOTA_CONNECTIONS", default=50)
QUOTA_WORKFLOW_CONFIGS = env.int("QUOTA_WORKFLOW_CONFIGS", default=50)

# MCP server (/mcp/, apps.mcp)
# How long a tools/call of an `ask` action waits for a person's decision before it answers the approval's id and state
MCP_APPROVAL_WAIT_SECONDS = env.float("MCP_APPROVAL_WAIT_SECONDS", default=20.0)
# How long a tools/call that runs an agent waits for the run to finish before it answers the run's id and status
MCP_AGENT_WAIT_SECONDS = env.float("MCP_AGENT_WAIT_SECONDS", default=10.0)
# At most this many of a tenant's tool calls wait (for an approval or a run) at once; others answer without waiting
MCP_WAITS_PER_TENANT = env.int("MCP_WAITS_PER_TENANT", default=4)
# Browser origins (besides GATEWAY_URL's and PORTAL_URL's) whose pages may call /mcp/; any other Origin answers 403
MCP_ALLOWED_ORIGINS = env.list("MCP_ALLOWED_ORIGINS", default=[])
