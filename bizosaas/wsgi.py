import json
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizosaas.settings.dev")
django_application = get_wsgi_application()

from apps.agents.knowledge import embeddings  # noqa: E402  (needs the apps loaded above)
from apps.integrations import hooks  # noqa: E402

embeddings.preload()  # in the background: no request pays for loading the model


def application(environ, start_response):
    """Django, except for a webhook endpoint already over its requests per second in this window: that one is
    answered here, before any middleware, with the refusal it got (apps.integrations.hooks). A flood's excess then
    costs this process almost nothing, so the other tenants' webhooks keep their latency."""
    token = hooks.token_of(environ.get("PATH_INFO", ""))
    refused = hooks.refused_now(token) if token else None
    if refused is None:
        return django_application(environ, start_response)
    body = json.dumps(refused.body()).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers += list(refused.headers().items())
    start_response("429 Too Many Requests", headers)
    return [body]
