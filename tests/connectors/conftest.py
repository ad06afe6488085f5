import pytest

from apps.connectors.registry import registry
from apps.connectors.runtime import open_context


@pytest.fixture
def provider_context():
    """`provider_context("wordpress", config, credentials)`: the production client for a provider, as the
    framework builds it for a connection (closed at the end of the test)."""
    opened = []

    def build(key: str, config: dict, credentials: dict, **kwargs):
        ctx = open_context(registry.get(key)(), config=config, credentials=credentials, **kwargs)
        opened.append(ctx)
        return ctx

    yield build
    for ctx in opened:
        ctx.http.close()
