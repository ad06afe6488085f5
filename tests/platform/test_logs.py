"""Logs: one JSON object per line with time, level, logger, request id, tenant, user and message, from the gateway
and from Celery tasks; secrets sent through the API, webhooks and logins never reach them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import signals
from django.conf import settings
from django.test import Client

from bizosaas.observability import ContextFilter, JsonFormatter
from tests.factories import make_member, make_tenant
from tests.integrations.test_smoke_flow import shopify_sign

pytestmark = pytest.mark.django_db
FIELDS = {"time", "level", "logger", "request_id", "tenant", "user", "message"}


@pytest.fixture
def log_output():
    """Everything logged anywhere (DEBUG and up), formatted by the production handler; a callable returning text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream.getvalue
    root.removeHandler(handler)
    root.setLevel(old_level)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_production_logging_config_writes_json_lines_with_every_field():
    assert settings.LOGGING["handlers"]["default"]["formatter"] == "json"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("apps.example")
    logger.addHandler(handler)
    try:
        logger.warning("multi\nline %s", "message")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)

    parsed = lines(stream.getvalue())
    assert len(parsed) == 2  # a traceback stays inside its one line
    assert all(set(line) >= FIELDS for line in parsed)
    assert parsed[0]["message"] == "multi\nline message" and parsed[0]["level"] == "WARNING"
    assert parsed[1]["logger"] == "apps.example" and "ValueError: boom" in parsed[1]["exc_info"]


def test_celery_keeps_the_json_logging_and_tags_task_lines_with_task_id_and_tenant(request):
    # Celery asks who configures logging; the platform answers with its own LOGGING (the JSON handler)
    answered = signals.setup_logging.send(sender=None, loglevel="INFO", logfile=None, format="", colorize=False)
    assert answered, "no setup_logging receiver: Celery would install its own plain-text handler"
    root_handlers = logging.getLogger().handlers
    assert any(isinstance(h.formatter, JsonFormatter) for h in root_handlers)
    log_output = request.getfixturevalue("log_output")  # after the reconfiguration, which replaces root handlers

    signals.task_prerun.send(sender=None, task_id="task-123", task=None, args=("acme", 7), kwargs={})
    logging.getLogger("apps.integrations.tasks").info("fanned out")
    signals.task_postrun.send(sender=None, task_id="task-123", task=None, args=("acme", 7), kwargs={})
    logging.getLogger("apps.integrations.tasks").info("outside any task")

    inside, outside = [line for line in lines(log_output()) if line["logger"] == "apps.integrations.tasks"][-2:]
    assert set(inside) >= FIELDS
    assert (inside["request_id"], inside["tenant"], inside["message"]) == ("task-123", "acme", "fanned out")
    assert (outside["request_id"], outside["tenant"]) == ("-", "-")


def test_secrets_sent_through_the_platform_never_reach_the_logs(api, log_output, httpserver):
    password = "Pass-word-Sentinel-4471"
    tenant = make_tenant(slug="acme-logs-secrets")
    owner = make_member(tenant, "owner", email="owner@acme-logs.test")
    owner.set_password(password)
    owner.save()

    # a login (and a failed one), then calls with the JWT it returned
    wrong = api.post("/api/v1/auth/login/", {"email": owner.email, "password": password + "x"})
    login = api.post("/api/v1/auth/login/", {"email": owner.email, "password": password, "tenant": tenant.slug})
    assert wrong.status_code in (400, 401) and login.status_code == 200, login.content
    jwt = login.json()["access"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {jwt}", "HTTP_X_TENANT": tenant.slug}

    # connector credentials, an LLM API key, a webhook signing secret
    client_secret = "cs-Connector-Sentinel-9931"
    connection = api.post(
        "/api/v1/connections/",
        {
            "provider": "hubspot",
            "name": "CRM",
            "config": {"api_base_url": "https://api.hubapi.com", "client_id": "c-1", "client_secret": client_secret},
        },
        **auth,
    )
    assert connection.status_code == 201, connection.content
    llm_key = "sk-LLM-Sentinel-5512-abcdef"
    provider = api.post(
        "/api/v1/llm-providers/",
        {"name": "OpenAI", "kind": "openai", "default_model": "gpt-4o-mini", "api_key": llm_key},
        **auth,
    )
    assert provider.status_code == 201, provider.content
    shop_secret = "shpss_Webhook-Sentinel-7781"
    with_secret = api.post(
        "/api/v1/connections/",
        {
            "provider": "shopify",
            "name": "Shop",
            "config": {
                "shop": "acme",
                "admin_api_access_token": "shpat_Token-Sentinel-3390",
                "webhook_secret": shop_secret,
            },
        },
        **auth,
    )
    assert with_secret.status_code == 201, with_secret.content
    endpoint = api.post(
        "/api/v1/webhooks/endpoints/",
        {"name": "Shop", "scheme": "provider", "connection": with_secret.json()["id"]},
        **auth,
    )
    assert endpoint.status_code == 201, endpoint.content
    subscription = api.post(
        "/api/v1/webhooks/subscriptions/", {"url": httpserver.url_for("/hook"), "event_types": ["*"]}, **auth
    )
    assert subscription.status_code == 201, subscription.content
    outbound_secret = subscription.json()["secret"]

    # webhooks with a good and a forged signature
    secrets = [password, jwt, client_secret, llm_key, shop_secret, "shpat_Token-Sentinel-3390", outbound_secret]
    token = endpoint.json()["url"].rstrip("/").rsplit("/", 1)[1]
    secrets.append(token)
    body = json.dumps({"id": 1}).encode()
    for key in (shop_secret, "forged"):
        Client(HTTP_HOST="localhost").post(
            f"/hooks/{token}/",
            body,
            content_type="application/json",
            HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(key, body),
            HTTP_X_SHOPIFY_TOPIC="orders/create",
            HTTP_X_SHOPIFY_WEBHOOK_ID=f"wh-{key}",
        )

    output = log_output()
    parsed = lines(output)
    assert len(parsed) >= 8 and all(set(line) >= FIELDS for line in parsed)
    assert any(line["tenant"] == tenant.schema_name and line["user"] == str(owner.pk) for line in parsed)
    leaked = [secret[:8] + "…" for secret in secrets if secret in output]
    assert not leaked, f"secrets found in the logs: {leaked}"


def test_the_background_handler_writes_info_off_the_callers_thread_and_warnings_at_once():
    """The production handler (settings.LOGGING's default): INFO lines keep the caller's request id and the
    arguments as they were when logged, and are written by the process's log thread; a warning is written before
    the call returns."""
    import threading

    from bizosaas.observability import BackgroundHandler, request_id_var

    assert settings.LOGGING["handlers"]["default"]["class"] == "bizosaas.observability.BackgroundHandler"
    stream = io.StringIO()
    handler = BackgroundHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("apps.example.background")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    writers: list[str] = []
    write = stream.write
    stream.write = lambda text: writers.append(threading.current_thread().name) or write(text)  # type: ignore[method-assign]
    token = request_id_var.set("req-background-1")
    try:
        items = ["first"]
        logger.info("items %s", items)
        items.append("changed later")  # after the call: the line keeps what was logged
        logger.warning("at once")
        assert "at once" in stream.getvalue()  # written in this thread, before the call returned
        handler._queue.join()  # the log thread has written everything queued
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
        logger.propagate = True
    parsed = {line["message"]: line for line in lines(stream.getvalue())}
    assert parsed["items ['first']"]["request_id"] == "req-background-1"
    assert parsed["items ['first']"]["level"] == "INFO"
    assert parsed["at once"]["level"] == "WARNING"
    assert threading.current_thread().name in writers  # the warning
    assert any(name != threading.current_thread().name for name in writers)  # the INFO line
