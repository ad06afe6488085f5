"""Builds the authenticated ConnectionContext for a provider, config and decrypted credentials."""

from __future__ import annotations

from collections.abc import Callable

from apps.connectors.base import ConnectionContext, Provider
from apps.connectors.http import ProviderHTTP


def open_context(
    provider: Provider,
    *,
    config: dict,
    credentials: dict,
    connection_key: str = "",
    on_unauthorized: Callable[[ConnectionContext], bool] | None = None,
) -> ConnectionContext:
    """The caller closes `ctx.http` (use `with open_context(...).http:`). Headers are recomputed per attempt,
    so credentials refreshed by `on_unauthorized` (which mutates ctx.credentials) apply to the retry."""
    ctx = ConnectionContext(provider=provider, config=config, credentials=credentials, http=None)  # type: ignore[arg-type]
    ctx.http = ProviderHTTP(
        provider=provider.key,
        label=provider.name,
        base_url=provider.connection_base_url(config, credentials),
        connection_key=connection_key,
        headers=lambda: provider.auth_headers(ctx.config, ctx.credentials),
        basic_auth=provider.basic_auth(config, credentials),
        on_unauthorized=(lambda: on_unauthorized(ctx)) if on_unauthorized else None,
        retry_after=provider.retry_after,
        error_message=provider.error_message,
    )
    return ctx
