"""The connector registry: every provider registered once at start-up, then frozen."""

from __future__ import annotations

import importlib
import pkgutil

from django.core.exceptions import ImproperlyConfigured

import apps.connectors.providers as package
from apps.connectors import unified
from apps.connectors.base import AUTH_TYPES, CATEGORIES, SLUGGISH, Provider


class Registry:
    def __init__(self) -> None:
        self._providers: dict[str, type[Provider]] = {}
        self._frozen = False

    def register(self, provider: type[Provider]) -> type[Provider]:
        if self._frozen:
            raise ImproperlyConfigured(f"connector registry is frozen; cannot register {provider.__name__}")
        key = getattr(provider, "key", "")
        if not SLUGGISH.match(key or ""):
            raise ImproperlyConfigured(f"{provider.__name__}: invalid connector key {key!r}")
        if key in self._providers:
            raise ImproperlyConfigured(f"duplicate connector key {key!r} ({provider.__name__})")
        if provider.category not in CATEGORIES:
            raise ImproperlyConfigured(f"{key}: unknown category {provider.category!r}")
        if provider.auth.type not in AUTH_TYPES or (provider.auth.type == "oauth2") != bool(provider.auth.oauth2):
            raise ImproperlyConfigured(f"{key}: auth spec is inconsistent")
        for resource in provider.resources:
            if resource.model not in unified.MODELS:
                raise ImproperlyConfigured(f"{key}.{resource.name}: unknown unified model {resource.model!r}")
        self._providers[key] = provider
        return provider

    def freeze(self) -> None:
        self._frozen = True

    def get(self, key: str) -> type[Provider] | None:
        return self._providers.get(key)

    def all(self) -> list[type[Provider]]:
        return sorted(self._providers.values(), key=lambda p: (p.category, p.name))

    def keys(self) -> list[str]:
        return sorted(self._providers)


registry = Registry()


def load_providers() -> None:
    """Imports every module of apps.connectors.providers (each registers its provider), then freezes."""
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    registry.freeze()
