import os
from http import HTTPStatus

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.test.utils import override_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizosaas.settings.dev")
django_application = get_wsgi_application()


class StackHandler(WSGIHandler):
    """Django's WSGI handler with the middleware of another list of the settings (HOOKS_MIDDLEWARE: what serves
    `/hooks/<token>/`; API_MIDDLEWARE: `/api/`). Django reads MIDDLEWARE once, when a handler loads it; this one
    reads its own list instead, here at start-up, before any request is served."""

    def __init__(self, middleware: list[str]):
        self.middleware = middleware
        super().__init__()

    def load_middleware(self, is_async=False):
        with override_settings(MIDDLEWARE=self.middleware):
            super().load_middleware(is_async)


hooks_application = StackHandler(settings.HOOKS_MIDDLEWARE)
api_application = StackHandler(settings.API_MIDDLEWARE)

from apps.agents.knowledge import embeddings  # noqa: E402  (needs the apps loaded above)
from apps.integrations import inbound_views  # noqa: E402
from bizosaas import refusals  # noqa: E402

embeddings.preload()  # in the background: no request pays for loading the model


def json_headers(length: int) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", str(length)),
        ("X-Content-Type-Options", "nosniff"),
    ]


def application(environ, start_response):
    """Django (for `/hooks/<token>/` and `/api/`, with their own middleware: hooks_application, api_application),
    except for a webhook endpoint already over its requests per second in this window, or an API caller
    that was told 429 and asks again before its Retry-After: those are answered here, before any middleware, with
    the refusal they got (bizosaas.refusals). A flood's excess then costs this process almost nothing, so the other
    tenants' requests keep their latency."""
    token = inbound_views.token_of(environ.get("PATH_INFO", ""))
    answer = refusals.held(refusals.hook_key(token)) if token else refusals.held_for_api(environ)
    if answer is None:
        if token:
            return hooks_application(environ, start_response)
        if environ.get("PATH_INFO", "").startswith("/api/"):
            return api_application(environ, start_response)
        return django_application(environ, start_response)
    status, body, headers = answer
    start_response(f"{status} {HTTPStatus(status).phrase}", [*json_headers(len(body)), *headers])
    return [body]
