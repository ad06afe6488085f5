"""The three steps every provider's webhook check shares (apps.connectors.signing): a header read in any case, an
HMAC of the signed bytes, a constant-time comparison that a missing secret never passes."""

import hashlib

import pytest

from apps.connectors.signing import has_header, header, hmac_signature, lowered, matches

# RFC 4231, test case 2 (key "Jefe"), HMAC-SHA-256
RFC4231_KEY = "Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_a_header_is_found_in_any_case_and_without_surrounding_whitespace():
    sent = {"x-shopify-hmac-sha256": "  abc=  ", "Content-Type": "application/json"}
    assert header(sent, "X-Shopify-Hmac-Sha256") == "abc="
    assert header(sent, "content-type") == "application/json"
    assert has_header(sent, "X-SHOPIFY-HMAC-SHA256")
    assert lowered(sent) == {"x-shopify-hmac-sha256": "  abc=  ", "content-type": "application/json"}


def test_a_header_that_was_not_sent_reads_empty():
    assert header({"X-Other": "1"}, "X-Signature") == ""
    assert not has_header({"X-Other": "1"}, "X-Signature")


def test_the_hmac_is_the_rfc_4231_value_in_hex_and_in_base64():
    assert hmac_signature(RFC4231_KEY, RFC4231_DATA, encoding="hex") == RFC4231_SHA256
    assert hmac_signature(RFC4231_KEY, RFC4231_DATA) == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="


def test_the_digest_is_the_callers_choice():  # RFC 2202, test case 2, HMAC-SHA-1
    assert hmac_signature(RFC4231_KEY, RFC4231_DATA, digest=hashlib.sha1, encoding="hex") == (
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    )


@pytest.mark.parametrize(
    ("sent", "expected", "result"),
    [
        ("s3cret", "s3cret", True),
        ("s3cret", "s3creT", False),
        ("s3cret", "s3cret ", False),
        ("", "", False),  # no secret configured: nothing passes, not even an empty header
        (None, "s3cret", False),
        (["s3cret"], "s3cret", False),  # a JSON body's field that is not a string
        ("sécret", "sécret", True),  # not ASCII: compared as UTF-8 bytes, no TypeError
    ],
)
def test_matches(sent, expected, result):
    assert matches(sent, expected) is result
