"""One cap on the size of every request body, checked before anything reads or parses it.

A request whose Content-Length is over API_MAX_BODY_BYTES answers 413 at once, with the same JSON body on every
endpoint, authenticated or not. Multipart uploads to the knowledge documents endpoint may be as large as
KNOWLEDGE_MAX_UPLOAD_BYTES (plus room for the form's other fields); `/hooks/` keeps its own WEBHOOK_MAX_BODY_BYTES
check, which reads at most that much. Under WSGI Django reads no more than the declared Content-Length, and
nothing at all of a body sent without one (chunked), so the header is a sound bound here. Django's own
RequestDataTooBig (DATA_UPLOAD_MAX_MEMORY_SIZE, set to the same figure: form fields of a multipart upload, for one)
answers the same 413 instead of Django's HTML 400 page.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small fields sent beside the file
_KNOWLEDGE_UPLOAD = re.compile(r"^/api/v1/knowledge/documents/?$")


def too_large(limit: int) -> JsonResponse:
    body = {"detail": f"Request body larger than {limit} bytes.", "code": "body_too_large", "limit": limit}
    return JsonResponse(body, status=413)


def body_limit(request) -> int | None:
    """The most bytes this request's body may have, or None where the view bounds its own reading."""
    if request.path_info.startswith("/hooks/"):
        return None
    if (
        request.method == "POST"
        and _KNOWLEDGE_UPLOAD.match(request.path_info)
        and request.content_type == "multipart/form-data"
    ):
        return settings.KNOWLEDGE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    return settings.API_MAX_BODY_BYTES


class BodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request)
        if limit is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0  # Django reads nothing of a body whose length it cannot parse
            if declared > limit:
                logger.info("request body refused: %s bytes over the %s-byte limit", declared, limit)
                return too_large(limit)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return None
