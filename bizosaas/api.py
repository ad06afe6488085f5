"""Shared API plumbing: the exceptions services raise (plain ones: they know nothing of HTTP) become answers here,
in one place; every list is paged with a bounded size."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import exceptions, pagination, parsers
from rest_framework.response import Response

from apps.accounts.quotas import QuotaExceeded
from apps.connectors.api.slow_calls import ProviderCallsBusy
from apps.connectors.exceptions import ConnectorError
from bizosaas import durable, refusals

API_RATES = ("api_requests_per_minute", "api_key_requests_per_minute")  # counted on every request of a principal


def exception_handler(exc, context):
    headers: dict[str, str] | None
    if isinstance(exc, QuotaExceeded):  # 429 + Retry-After for rates, 403 for capacities
        body, headers = exc.body(), exc.headers()
        if exc.status_code == 429 and exc.limit.key in API_RATES and exc.window_end is not None:
            seconds = (exc.window_end - timezone.now()).total_seconds()
            _hold(context, "api_rate", seconds, exc.status_code, body, headers, whole_principal=True)
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, ConnectorError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.retry_after is not None:
            body["retry_after"] = round(exc.retry_after, 1)
        if exc.status_code >= 500:
            body["detail"] += " The provider may be down or slow; try again later."
        headers = (
            {"Retry-After": str(math.ceil(exc.retry_after))} if exc.status_code == 429 and exc.retry_after else None
        )
        if isinstance(exc, ProviderCallsBusy) and exc.retry_after:
            _hold(context, "provider_calls", exc.retry_after, exc.status_code, body, headers or {})
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, durable.Unavailable):  # Temporal down: the work was not started (or, `extra`, only part)
        return Response({"detail": exc.detail, **exc.extra}, status=503)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    # imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES (this module's parser) as it loads, so this
    # module must not need it while it loads (DRF's own system check may be the first to import this module)
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)


def _hold(context, kind: str, seconds: float, status: int, body: dict, headers: dict, *, whole_principal=False):
    """Lets bizosaas.wsgi repeat this 429 to the same credential (every request of it, or this request only) until
    the caller was told to come back (bizosaas.refusals)."""
    request = context.get("request")
    authorization = request.META.get("HTTP_AUTHORIZATION", "") if request is not None else ""
    if not authorization:  # a session's requests are the portal's: never answered from memory
        return
    if whole_principal:
        key = refusals.principal_key(authorization)
    else:
        key = refusals.request_key(authorization, request.method, request.path_info)
    refusals.hold(key, kind=kind, seconds=seconds, status=status, body=body, headers=headers)


class JSONObjectParser(parsers.JSONParser):
    """Every JSON body the API takes is an object: an array, a string or a number is refused here with a 400, before
    a view, throttle or serializer reads it as a mapping."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise exceptions.ParseError("The body must be a JSON object.")
        return data


def max_page_size() -> int:
    """The most items any list answers at once (API_MAX_PAGE_SIZE), read per request so it can change at run time."""
    return settings.API_MAX_PAGE_SIZE


def page_limit(raw: str | None, *, default: int) -> int:
    """`?limit=` as a list takes it: absent -> `default`, above the maximum -> the maximum, anything but a positive
    integer -> a 400 naming `limit`."""
    ceiling = max_page_size()
    if raw is None or raw == "":
        return min(default, ceiling)
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise exceptions.ValidationError({"limit": [f"An integer from 1 to {ceiling}."]})
    return min(int(raw) if len(raw) <= 12 else ceiling, ceiling)  # 12 digits: int() refuses very long strings


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset paging with the page size capped at API_MAX_PAGE_SIZE (a larger `limit` is clamped, as
    DRF's max_limit does), and a malformed `limit` or `offset` refused with a 400 instead of being ignored."""

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return max_page_size()

    def get_limit(self, request) -> int:
        return page_limit(request.query_params.get(self.limit_query_param), default=self.default_limit)  # type: ignore[arg-type]

    def paginate_queryset(self, queryset, request, view=None):
        """DRF's, except that a page shorter than the limit tells the count itself: most lists fit in one page,
        and their COUNT(*) is not asked (a full page, or an empty one past the start, still asks it)."""
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        page = list(queryset[self.offset : self.offset + self.limit])
        if len(page) < self.limit and (page or self.offset == 0):
            self.count = self.offset + len(page)
        else:
            self.count = self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return page

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        if not (raw.isascii() and raw.isdigit()):
            raise exceptions.ValidationError({"offset": ["A non-negative integer."]})
        return int(raw) if len(raw) <= 18 else 10**18  # past any count: an empty page
