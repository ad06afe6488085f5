"""Our webhook verifiers against the worked examples the providers and specifications publish: each example is
accepted at its own timestamp, and a tampered or replayed copy is refused.

- Standard Webhooks: the specification's example (secret, msg id, timestamp, body and `v1,` signature).
- HubSpot v3: the example in HubSpot's Python SDK tests (client secret, POST, URL, body, timestamp in ms).
- `X-Hub-Signature-256` (Meta's notifications, as GitHub documents the scheme): GitHub's documented example
  ("It's a Secret to Everybody", "Hello, World!"), through the Facebook Ads verifier.
"""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import standardwebhooks.webhooks

from apps.connectors.base import WebhookVerificationError
from apps.connectors.registry import registry
from apps.integrations.inbound import _verify_standard
from apps.integrations.models import InboundEndpoint

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HUBSPOT_BODY = b"{'example_field':'example_value'}"
HUBSPOT_URL = "https://www.example.com/webhook_uri"
HUBSPOT_TIMESTAMP_MS = 15000000
HUBSPOT_SIGNATURE = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.fixture
def at_the_standard_webhooks_example(monkeypatch):
    class Then(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(SW_TIMESTAMP + 10, tz=tz or UTC)

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Then)


def standard(body=SW_BODY, signature=SW_SIGNATURE, timestamp=SW_TIMESTAMP):
    endpoint = InboundEndpoint(secrets={"signing_secret": SW_SECRET})
    headers = {"webhook-id": SW_MSG_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    return _verify_standard(endpoint, headers, body)


def test_the_standard_webhooks_example_is_accepted_at_its_timestamp(at_the_standard_webhooks_example):
    assert standard() == (SW_MSG_ID, "", {"test": 2432232314})


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"test": 2432232315}'},
        {"signature": "v1,g1hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
        {"timestamp": SW_TIMESTAMP + 1},  # the signature covers the timestamp
    ],
    ids=["body", "signature", "timestamp"],
)
def test_a_tampered_standard_webhooks_example_is_refused(at_the_standard_webhooks_example, change):
    with pytest.raises(WebhookVerificationError):
        standard(**change)


def test_the_standard_webhooks_example_replayed_now_is_refused():
    with pytest.raises(WebhookVerificationError, match="too old"):
        standard()


def hubspot(monkeypatch, *, now_ms, body=HUBSPOT_BODY, url=HUBSPOT_URL, signature=HUBSPOT_SIGNATURE):
    import apps.connectors.providers.hubspot as module

    monkeypatch.setattr(module, "time", SimpleNamespace(time=lambda: now_ms / 1000))
    headers = {"X-HubSpot-Signature-V3": signature, "X-HubSpot-Request-Timestamp": str(HUBSPOT_TIMESTAMP_MS)}
    return registry.get("hubspot")().verify_webhook(
        method="POST", url=url, headers=headers, body=body, secret=HUBSPOT_SECRET
    )


def test_hubspots_sdk_example_passes_the_signature_check_at_its_timestamp(monkeypatch):
    # the SDK's body is not JSON, so the verifier goes past the signature and stops at the body
    with pytest.raises(WebhookVerificationError, match="body is not JSON"):
        hubspot(monkeypatch, now_ms=HUBSPOT_TIMESTAMP_MS + 1000)


@pytest.mark.parametrize(
    "change",
    [
        {"body": b"{'example_field':'example_valuf'}"},
        {"url": "https://www.example.com/webhook_uri2"},
        {"signature": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQv="},
    ],
    ids=["body", "url", "signature"],
)
def test_a_tampered_hubspot_example_is_refused(monkeypatch, change):
    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        hubspot(monkeypatch, now_ms=HUBSPOT_TIMESTAMP_MS + 1000, **change)


def test_the_hubspot_example_replayed_later_is_refused(monkeypatch):
    with pytest.raises(WebhookVerificationError, match="more than 5 minutes"):
        hubspot(monkeypatch, now_ms=HUBSPOT_TIMESTAMP_MS + 301_000)


def facebook(body=GITHUB_BODY, signature=GITHUB_SIGNATURE):
    return registry.get("facebook_ads")().verify_webhook(
        method="POST", url="/", headers={"X-Hub-Signature-256": signature}, body=body, secret=GITHUB_SECRET
    )


def test_githubs_documented_x_hub_signature_256_example_passes_the_signature_check():
    # "Hello, World!" is not a notification, so the verifier goes past the signature and stops at the body
    with pytest.raises(WebhookVerificationError, match="body is not JSON"):
        facebook()


@pytest.mark.parametrize(
    "change",
    [{"body": b"Hello, World?"}, {"signature": GITHUB_SIGNATURE[:-1] + "f"}, {"signature": GITHUB_SIGNATURE[7:]}],
    ids=["body", "signature", "no-prefix"],
)
def test_a_tampered_x_hub_signature_256_example_is_refused(change):
    with pytest.raises(WebhookVerificationError, match=r"wrong signature|malformed"):
        facebook(**change)
