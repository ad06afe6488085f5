"""Query-string filters shared by the list endpoints: each refuses a malformed value with a 400 naming the
parameter instead of ignoring it."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

from bizosaas.digits import ascii_digits


def time_filters(params, queryset, field: str):
    errors = {}
    for name, lookup in (("since", f"{field}__gte"), ("until", f"{field}__lt")):
        if params.get(name):
            try:
                moment = parse_datetime(params[name])
            except ValueError:  # well formed but no such moment: 2026-02-30T10:00:00
                moment = None
            if moment is None:
                errors[name] = ["Not an ISO 8601 date-time."]
            else:
                queryset = queryset.filter(**{lookup: moment})
    if errors:
        raise ValidationError(errors)
    return queryset


def int_filters(params, queryset, names: dict[str, str]):
    for name, lookup in names.items():
        value = params.get(name)
        if value:
            if not ascii_digits(value):
                raise ValidationError({name: ["An integer id."]})
            queryset = queryset.filter(**{lookup: int(value)})
    return queryset


def choice_filter(params, queryset, name: str, choices):
    value = params.get(name)
    if value:
        if value not in choices:
            raise ValidationError({name: [f"One of: {', '.join(choices)}."]})
        queryset = queryset.filter(**{name: value})
    return queryset
