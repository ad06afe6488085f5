"""The rule language on its own (no database): event type patterns, field paths, every condition operator, the
shape checks that run when a rule is saved, and input mappings."""

from __future__ import annotations

import time

import pytest

from apps.integrations import expressions as ex

EVENT = {
    "type": "wordpress.form.submitted",
    "event_id": "evt_1",
    "source": "api",
    "provider": "wordpress",
    "connection_id": None,
    "received_at": "2026-03-01T10:00:00+00:00",
    "payload": {
        "email": "Ada@Example.com",
        "score": 72,
        "score_text": "55",
        "notes": "Interested in the ENTERPRISE plan",
        "tags": ["vip", "newsletter", 7],
        "customer": {"address": {"city": "London"}, "vip": True, "nickname": None},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "submitted_on": "2026-03-01",
        "flag": True,
        "attributes": {"plan": "pro"},
    },
}


def cond(field: str, op: str, value=ex.MISSING) -> dict:
    condition = {"field": field, "op": op}
    if value is not ex.MISSING:
        condition["value"] = value
    return condition


def check(field: str, op: str, value=ex.MISSING) -> bool:
    condition = cond(field, op, value)
    assert ex.check_condition(condition) == {}, "the test's own condition must be valid"
    return ex.evaluate_condition(condition, EVENT)[0]


# --- event types ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("shopify.order.create", "shopify.order.create", True),
        ("shopify.order.create", "shopify.order.paid", False),
        ("shopify.order.create", "shopify.order", False),
        ("shopify.order.create", "shopify.order.create.extra", False),
        ("shopify.order.*", "shopify.order.create", True),
        ("shopify.order.*", "shopify.order.paid", True),
        ("shopify.order.*", "shopify.order.fulfillment.partial", True),  # a trailing * takes any remainder
        ("shopify.order.*", "shopify.order", False),  # but at least one segment
        ("shopify.order.*", "shopify.refund.create", False),
        ("shopify.order.*", "stripe.order.create", False),
        ("*.contact.*", "hubspot.contact.creation", True),
        ("*.contact.*", "mailchimp.contact.updated", True),
        ("*.contact.*", "hubspot.deal.creation", False),
        ("*.contact.*", "hubspot.contact", False),
        ("*.contact", "hubspot.contact", True),
        ("*.contact", "hubspot.contact.creation", False),  # a * in the middle or start is one segment only
        ("*", "anything.at.all", True),
        ("*", "a.b", True),
        ("shopify", "shopify.order.create", False),
        ("shopify.*", "shopify.order.create", True),
    ],
)
def test_type_matches(pattern, event_type, expected):
    assert ex.type_matches(pattern, event_type) is expected


@pytest.mark.parametrize("pattern", ["shopify.order.create", "shopify.order.*", "*.contact.*", "*", "a.b.c.d.e"])
def test_check_type_pattern_accepts(pattern):
    assert ex.check_type_pattern(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    ["", "Shopify.Order", "shopify..order", "shopify.order.", ".order", "a.b.c.d.e.f", "shop-ify.order", "**", None, 5],
)
def test_check_type_pattern_refuses(pattern):
    assert "shopify.order.create" in ex.check_type_pattern(pattern)


def test_a_single_segment_pattern_that_can_never_match_is_refused():
    assert not any(ex.type_matches("shopify", t) for t in ("shopify.order", "shopify.order.create"))
    assert ex.check_type_pattern("shopify") is not None


# --- paths ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["payload", "payload.customer.email", "payload.items.0.sku", "type", "event_id", "payload.x-y_z"]
)
def test_check_path_accepts(path):
    assert ex.check_path(path) is None


@pytest.mark.parametrize("path", ["", "payload..email", "payload.email.", "payload.e mail", "payload.$x", None, 3])
def test_check_path_refuses_malformed_paths(path):
    assert "dotted field path" in ex.check_path(path)


def test_check_path_refuses_unknown_roots_and_names_the_allowed_ones():
    problem = ex.check_path("customer.email")
    assert problem.startswith("Must start with one of:")
    assert "payload" in problem and "type" in problem


def test_check_path_refuses_more_than_sixteen_segments():
    assert ex.check_path("payload" + ".a" * 15) is None
    assert ex.check_path("payload" + ".a" * 16) is not None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("payload.customer.address.city", "London"),
        ("payload.items.0.sku", "A-1"),
        ("payload.items.1.qty", 1),
        ("payload.items.-1.sku", "B-2"),
        ("payload.tags.2", 7),
        ("payload.customer.nickname", None),  # present but null is not missing
        ("type", "wordpress.form.submitted"),
    ],
)
def test_resolve_finds_nested_values_and_list_items(path, expected):
    assert ex.resolve(EVENT, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "payload.nope",
        "payload.customer.address.zip",
        "payload.items.2.sku",  # past the end
        "payload.items.-3",
        "payload.items.first",  # a list is indexed by number only
        "payload.email.length",  # through a string
        "payload.score.0",  # through a number
    ],
)
def test_resolve_returns_missing(path):
    assert ex.resolve(EVENT, path) is ex.MISSING


# --- operators -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("payload.score_text", 55, True),  # "55" from a form post equals 55
        ("payload.score", "72", True),
        ("payload.score", 72.0, True),
        ("payload.score", 73, False),
        ("payload.email", "Ada@Example.com", True),
        ("payload.email", "ada@example.com", False),  # eq is exact
        ("payload.flag", True, True),
        ("payload.flag", 1, False),  # a boolean is not a number
        ("payload.customer.nickname", None, True),
        ("payload.tags", ["vip", "newsletter", 7], True),
    ],
)
def test_eq(field, value, expected):
    assert check(field, "eq", value) is expected


def test_ne_is_true_for_a_missing_field_and_false_for_an_equal_one():
    assert check("payload.nope", "ne", "x") is True
    assert check("payload.score_text", "ne", 55) is False
    assert check("payload.score", "ne", 10) is True


def test_every_other_operator_is_false_on_a_missing_field():
    for op, value in [("eq", None), ("gt", 0), ("lt", 100), ("in", [None]), ("contains", "x"), ("matches", ".*")]:
        assert check("payload.nope", op, value) is False, op


@pytest.mark.parametrize(
    ("op", "field", "value", "expected"),
    [
        ("gt", "payload.score", 50, True),
        ("gt", "payload.score", 72, False),
        ("gte", "payload.score", 72, True),
        ("gte", "payload.score", 73, False),
        ("lt", "payload.score", 100, True),
        ("lt", "payload.score", 72, False),
        ("lte", "payload.score", 72, True),
        ("lte", "payload.score", 71.5, False),
        ("gt", "payload.score_text", 9, True),  # "55" is compared as a number, not as text ("55" < "9")
        ("lt", "payload.score_text", "100", True),  # both numeric strings: numbers again ("55" > "100" as text)
        ("gt", "payload.score", "50.5", True),
        ("gt", "payload.submitted_on", "2026-02-28", True),  # ISO dates order as text
        ("lt", "payload.submitted_on", "2026-02-28", False),
        ("gte", "received_at", "2026-03-01T10:00:00+00:00", True),
        ("lt", "received_at", "2026-03-01T09:59:59+00:00", False),
        ("gt", "payload.email", 5, False),  # no order between a word and a number
        ("gt", "payload.flag", 0, False),  # nor between a boolean and a number
        ("lt", "payload.tags", 5, False),
    ],
)
def test_ordering_operators(op, field, value, expected):
    assert check(field, op, value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("payload.score", [10, 72, 99], True),
        ("payload.score", ["72"], True),
        ("payload.score_text", [55], True),
        ("payload.score", [1, 2, 3], False),
        ("payload.email", ["Ada@Example.com", "x"], True),
        ("payload.customer.nickname", [None], True),
        ("payload.flag", [1], False),
    ],
)
def test_in(field, value, expected):
    assert check(field, "in", value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("payload.notes", "enterprise", True),  # strings: a case-insensitive substring
        ("payload.notes", "ENTERPRISE PLAN", True),
        ("payload.email", "@example.COM", True),
        ("payload.notes", "starter", False),
        ("payload.notes", 5, False),
        ("payload.tags", "vip", True),  # lists: one of the items
        ("payload.tags", "VIP", False),  # items are compared exactly
        ("payload.tags", "7", True),  # "7" equals 7
        ("payload.tags", "gold", False),
        ("payload.attributes", "plan", True),  # objects: one of the keys
        ("payload.attributes", "pro", False),  # not a value
        ("payload.score", "7", False),  # a number has no items
    ],
)
def test_contains(field, value, expected):
    assert check(field, "contains", value) is expected


def test_exists():
    assert check("payload.email", "exists") is True
    assert check("payload.email", "exists", True) is True
    assert check("payload.customer.nickname", "exists") is True  # null is present
    assert check("payload.nope", "exists") is False
    assert check("payload.nope", "exists", False) is True
    assert check("payload.email", "exists", False) is False


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("payload.email", r"^[A-Za-z]+@Example\.com$", True),
        ("payload.email", r"^[a-z]+@example\.com$", False),  # regular expressions are case-sensitive
        ("payload.email", r"(?i)^ada@", True),
        ("payload.score", r"^7\d$", True),  # numbers are matched as text
        ("payload.items.0.sku", r"^[A-Z]-\d+$", True),
        ("payload.tags", "vip", False),  # lists are not matched
        ("payload.attributes", "plan", False),  # nor objects
    ],
)
def test_matches(field, value, expected):
    assert check(field, "matches", value) is expected


def test_matches_does_not_see_a_json_boolean_as_pythons_True():
    assert check("payload.flag", "matches", "^True$") is False


def test_matches_runs_in_linear_time_on_a_pattern_catastrophic_for_backtracking_engines():
    context = {"payload": {"text": "a" * 5000 + "b"}}
    condition = cond("payload.text", "matches", "(a+)+$")
    assert ex.check_condition(condition) == {}

    started = time.monotonic()
    result, actual = ex.evaluate_condition(condition, context)

    assert time.monotonic() - started < 1.0
    assert result is False
    assert actual == "a" * 5000 + "b"
    assert ex.evaluate_condition(cond("payload.text", "matches", "(a+)+b$"), context)[0] is True


def test_evaluate_condition_returns_the_value_it_found():
    assert ex.evaluate_condition(cond("payload.customer.address.city", "eq", "London"), EVENT) == (True, "London")
    assert ex.evaluate_condition(cond("payload.nope", "eq", "x"), EVENT) == (False, None)


# --- condition shapes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        cond("payload.score", "eq", 5),
        cond("payload.score", "eq", None),
        cond("payload.tags", "eq", ["a"]),
        cond("payload.score", "ne", "x"),
        cond("payload.score", "gt", 5),
        cond("payload.score", "lte", "2026-01-01"),
        cond("payload.score", "in", [1, "a", None, True]),
        cond("payload.score", "contains", "x"),
        cond("payload.score", "contains", 5),
        cond("payload.score", "exists"),
        cond("payload.score", "exists", False),
        cond("payload.score", "matches", "^a+$"),
    ],
)
def test_check_condition_accepts_well_formed_conditions(condition):
    assert ex.check_condition(condition) == {}


@pytest.mark.parametrize(
    ("condition", "keys"),
    [
        ("payload.email eq x", {""}),
        (["payload.email", "eq", "x"], {""}),
        ({"field": "payload.email", "op": "eq", "value": "x", "extra": 1}, {"extra"}),
        ({"op": "eq", "value": "x"}, {"field"}),
        (cond("customer.email", "eq", "x"), {"field"}),
        (cond("payload..email", "eq", "x"), {"field"}),
        (cond("payload.email", "equals", "x"), {"op"}),
        ({"field": "payload.email", "value": "x"}, {"op"}),
        (cond("nope", "bogus", "x"), {"field", "op"}),
        (cond("payload.email", "eq"), {"value"}),
        (cond("payload.email", "eq", {"a": 1}), {"value"}),
        (cond("payload.email", "exists", "yes"), {"value"}),
        (cond("payload.email", "exists", 1), {"value"}),
        (cond("payload.score", "gt"), {"value"}),
        (cond("payload.score", "gt", {"n": 1}), {"value"}),
        (cond("payload.score", "lt", [1]), {"value"}),
        (cond("payload.score", "gte", None), {"value"}),
        (cond("payload.score", "in", "abc"), {"value"}),
        (cond("payload.score", "in", []), {"value"}),
        (cond("payload.score", "in", list(range(501))), {"value"}),
        (cond("payload.score", "in", [[1]]), {"value"}),
        (cond("payload.score", "in", [{"a": 1}]), {"value"}),
        (cond("payload.tags", "contains", ["vip"]), {"value"}),
        (cond("payload.tags", "contains", {"vip": 1}), {"value"}),
        (cond("payload.email", "matches", ""), {"value"}),
        (cond("payload.email", "matches", 5), {"value"}),
        (cond("payload.email", "matches", "a" * 301), {"value"}),
        (cond("payload.email", "matches", "(unclosed"), {"value"}),
        (cond("payload.email", "matches", "(?=lookahead)"), {"value"}),  # not RE2
        (cond("payload.email", "matches", r"(a)\1"), {"value"}),  # backreferences are not RE2 either
    ],
)
def test_check_condition_reports_each_wrong_shape_under_its_key(condition, keys):
    errors = ex.check_condition(condition)
    assert set(errors) == keys
    assert all(isinstance(messages, list) and messages for messages in errors.values())


def test_check_condition_explains_an_invalid_regular_expression():
    errors = ex.check_condition(cond("payload.email", "matches", "(unclosed"))
    assert errors["value"][0].startswith("Not a valid regular expression")


def test_check_condition_lists_the_operators_for_an_unknown_one():
    assert ex.check_condition(cond("payload.email", "like", "x"))["op"] == [f"One of: {', '.join(ex.OPERATORS)}."]


def test_in_accepts_up_to_five_hundred_values():
    assert ex.check_condition(cond("payload.score", "in", list(range(500)))) == {}


def test_a_regular_expression_of_three_hundred_characters_is_accepted():
    assert ex.check_condition(cond("payload.email", "matches", "a" * 300)) == {}


# --- all / any -----------------------------------------------------------------------------------------------------


def test_evaluate_all_needs_every_condition_and_reports_each():
    conditions = [
        cond("payload.score", "gt", 50),
        cond("payload.email", "contains", "example"),
        cond("type", "eq", "x"),
    ]

    evaluation = ex.evaluate("all", conditions, EVENT)

    assert evaluation.matched is False
    assert [r["result"] for r in evaluation.results] == [True, True, False]
    assert evaluation.results[0] == {"field": "payload.score", "op": "gt", "value": 50, "result": True, "actual": 72}
    assert evaluation.results[2]["actual"] == "wordpress.form.submitted"
    assert ex.evaluate("all", conditions[:2], EVENT).matched is True


def test_evaluate_any_needs_one_condition():
    failing = [cond("payload.score", "lt", 10), cond("payload.nope", "exists")]
    assert ex.evaluate("any", failing, EVENT).matched is False
    assert ex.evaluate("any", [*failing, cond("payload.flag", "eq", True)], EVENT).matched is True


def test_a_rule_without_conditions_matches_every_event():
    assert ex.evaluate("all", [], EVENT).matched is True
    assert ex.evaluate("any", [], EVENT).matched is True


def test_evaluate_shortens_long_values_it_reports():
    context = {"payload": {"text": "x" * 500, "items": list(range(300))}}
    results = ex.evaluate("all", [cond("payload.text", "exists"), cond("payload.items", "exists")], context).results
    assert results[0]["actual"] == "x" * 200 + "…"
    assert len(results[1]["actual"]) == 201 and results[1]["actual"].startswith("[0, 1, 2")


# --- input mappings ------------------------------------------------------------------------------------------------


def test_check_mapping_accepts_paths_and_constants():
    mapping = {"email": {"path": "payload.email"}, "company": {"value": "Acme"}, "phone": {"value": None}}
    assert ex.check_mapping(mapping) == {}
    assert ex.check_mapping({}) == {}


@pytest.mark.parametrize("mapping", [None, [], "payload.email", [{"path": "payload.email"}]])
def test_check_mapping_refuses_a_non_object(mapping):
    assert set(ex.check_mapping(mapping)) == {""}


def test_check_mapping_reports_each_wrong_source_by_input_field():
    errors = ex.check_mapping(
        {
            "ok": {"path": "payload.email"},
            "string": "payload.email",
            "both": {"path": "payload.email", "value": "x"},
            "empty": {},
            "other_key": {"expr": "1+1"},
            "bad_path": {"path": "payload..email"},
            "bad_root": {"path": "secrets.token"},
        }
    )
    assert set(errors) == {"string", "both", "empty", "other_key", "bad_path", "bad_root"}
    assert errors["bad_root"][0].startswith("Must start with one of:")


def test_apply_mapping_takes_values_from_the_event_and_reports_missing_paths():
    mapping = {
        "email": {"path": "payload.email"},
        "city": {"path": "payload.customer.address.city"},
        "sku": {"path": "payload.items.1.sku"},
        "company": {"value": "Acme"},
        "phone": {"path": "payload.phone"},
        "zip": {"path": "payload.customer.address.zip"},
    }

    result, missing = ex.apply_mapping(mapping, EVENT)

    assert result == {"email": "Ada@Example.com", "city": "London", "sku": "B-2", "company": "Acme"}
    assert missing == ["payload.phone", "payload.customer.address.zip"]


def test_apply_mapping_copies_structures_and_nulls_as_they_are():
    result, missing = ex.apply_mapping(
        {"tags": {"path": "payload.tags"}, "nick": {"path": "payload.customer.nickname"}, "n": {"value": 0}}, EVENT
    )
    assert result == {"tags": ["vip", "newsletter", 7], "nick": None, "n": 0}
    assert missing == []
