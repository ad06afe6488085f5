"""Shared API plumbing: errors from services become field-level 400s."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.connectors.exceptions import ConnectorError


def exception_handler(exc, context):
    if isinstance(exc, ConnectorError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.retry_after is not None:
            body["retry_after"] = round(exc.retry_after, 1)
        if exc.status_code >= 500:
            body["detail"] += " The provider may be down or slow; try again later."
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
