"""Test settings: real embedded servers in a fresh temporary folder, started by the session fixture."""

import os
import tempfile

# Decided before `base` is imported so that the embedded addresses derive from them. Subprocesses started by
# tests inherit the same values through the environment. Under pytest-xdist every worker is a session of its own
# with its own servers: a worker does not take the folder and port its controller (or another worker) chose, which
# it would otherwise inherit, since the controller loads these settings before it starts the workers.
_session = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("BIZOSAAS_TEST_SESSION", _session) != _session:
    for _name in ("BIZOSAAS_LOCAL_DIR", "BIZOSAAS_TEST_OWNS_LOCAL_DIR", "BIZOSAAS_TEMPORAL_PORT"):
        os.environ.pop(_name, None)
os.environ["BIZOSAAS_TEST_SESSION"] = _session
if not os.environ.get("BIZOSAAS_LOCAL_DIR"):
    os.environ["BIZOSAAS_LOCAL_DIR"] = tempfile.mkdtemp(prefix="bzs-test-")
    os.environ["BIZOSAAS_TEST_OWNS_LOCAL_DIR"] = "1"
if not os.environ.get("BIZOSAAS_TEMPORAL_PORT"):
    from bizosaas.infra import free_port

    os.environ["BIZOSAAS_TEMPORAL_PORT"] = str(free_port())
os.environ.setdefault("BIZOSAAS_TEMPORAL_UI_PORT", "0")

from bizosaas.settings.base import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TEMPORAL_TASK_QUEUE = "bizosaas-test"
DEBUG = False
STATIC_ROOT = os.path.join(os.environ["BIZOSAAS_LOCAL_DIR"], "static")  # type: ignore[assignment]
os.makedirs(STATIC_ROOT, exist_ok=True)
CONNECTORS_ALLOW_LOOPBACK = True  # provider fakes listen on loopback
CONNECTOR_BACKOFF_BASE = 0.05
KNOWLEDGE_PRELOAD_MODEL = False  # a test gateway loads the model only if a test searches
