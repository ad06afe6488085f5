"""Automation rules end to end: checked when saved, dry-run with a sample event, evaluated by the fan-out worker
and their actions performed once each against a HubSpot fake that follows the CRM objects API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from apps.integrations import dispatch
from apps.integrations.models import ActionRun, Event, Rule, RuleRun
from tests.connectors.providers.test_hubspot import API, PRIVATE_APP_TOKEN, FakeHubSpot, error

pytestmark = pytest.mark.django_db

FORM = "wordpress.form.submitted"
UPSERT = f"{API}/contacts/batch/upsert"
LIST_QUERIES = 11  # auth and tenant lookups, count, page, prefetch: the same for 6 runs or 600


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


@pytest.fixture
def crm(acme, hubspot):
    return acme.connection(
        "hubspot",
        name="HubSpot CRM",
        config={"api_base_url": hubspot.base_url},
        credentials={"private_app_token": PRIVATE_APP_TOKEN},
    )


def upsert_action(connection, email=None, **extra) -> dict:
    mapping = {"email": email or {"path": "payload.email"}, **extra}
    return {"type": "connector_action", "connection": connection.pk, "action": "upsert_contact", "input": mapping}


def rule_body(connection, **overrides) -> dict:
    body = {
        "name": "Hot leads to HubSpot",
        "trigger_event": FORM,
        "conditions": [{"field": "payload.score", "op": "gte", "value": 50}],
        "actions": [upsert_action(connection, company={"value": "Acme Lead"})],
    }
    body.update(overrides)
    return body


def create_rule(api, org, body: dict) -> dict:
    response = api.post("/api/v1/rules/", body, **org.auth())
    assert response.status_code == 201, response.content
    return response.json()


def post_event(api, org, payload: dict, *, type_: str = FORM, key: str | None = None):
    body = {"type": type_, "payload": payload}
    if key is not None:
        body["idempotency_key"] = key
    return api.post("/api/v1/events/", body, **org.auth("member"))


def emitted(api, org, payload: dict, **kwargs) -> int:
    response = post_event(api, org, payload, **kwargs)
    assert response.status_code == 202, response.content
    return response.json()["id"]


def action_runs(org, **filters) -> list[ActionRun]:
    with schema_context(org.schema):
        return list(ActionRun.objects.filter(**filters).order_by("rule_run_id", "position"))


def rule_run_of(org, event_id: int) -> RuleRun:
    with schema_context(org.schema):
        return RuleRun.objects.get(event_id=event_id)


def refreshed(org, obj):
    with schema_context(org.schema):
        obj.refresh_from_db()
    return obj


def upserted_emails(hubspot) -> list[str]:
    return [entry["id"] for body in hubspot.upserts for entry in body["inputs"]]


# --- 1. validation when saved --------------------------------------------------------------------------------------


@pytest.fixture
def foreign(acme, globex, crm):
    """A connection of globex's whose id names nothing in acme."""
    globex.connection("shopify", name="Globex shop")
    connection = globex.connection("hubspot", name="Globex CRM", credentials={"private_app_token": "pat-globex"})
    with schema_context(acme.schema):
        assert not Connection.objects.filter(pk=connection.pk).exists()
    return connection


INVALID = {
    "actions.0.type": lambda crm, other: {"actions": [{"type": "send_email", "to": "a@b.co"}]},
    "actions.0.connection": lambda crm, other: {"actions": [upsert_action(other)]},
    "actions.0.action": lambda crm, other: {
        "actions": [{**upsert_action(crm), "action": "delete_contact"}],
    },
    "actions.0.input.favourite_colour": lambda crm, other: {
        "actions": [upsert_action(crm, favourite_colour={"path": "payload.colour"})],
    },
    "actions.0.input.email": lambda crm, other: {
        "actions": [
            {
                "type": "connector_action",
                "connection": crm.pk,
                "action": "upsert_contact",
                "input": {"first_name": {"path": "payload.name"}},
            }
        ],
    },
    "actions.0.input.phone": lambda crm, other: {"actions": [upsert_action(crm, phone="payload.phone")]},
    "actions.0.unexpected": lambda crm, other: {"actions": [{**upsert_action(crm), "unexpected": 1}]},
    "actions": lambda crm, other: {"actions": []},
    "conditions.0.value": lambda crm, other: {
        "conditions": [{"field": "payload.email", "op": "matches", "value": "(unclosed"}],
    },
    "conditions.0.op": lambda crm, other: {"conditions": [{"field": "payload.score", "op": "like", "value": 5}]},
    "conditions.0.field": lambda crm, other: {
        "conditions": [{"field": "customer.email", "op": "exists"}],
    },
    "trigger_event": lambda crm, other: {"trigger_event": "WordPress form submitted"},
    "trigger_connection": lambda crm, other: {"trigger_connection": other.pk},
    "match": lambda crm, other: {"match": "most"},
    "name": lambda crm, other: {"name": ""},
}


@pytest.mark.parametrize("key", list(INVALID))
def test_an_invalid_rule_is_refused_field_by_field_and_nothing_is_stored(api, acme, crm, foreign, key):
    body = rule_body(crm, **INVALID[key](crm, foreign))

    response = api.post("/api/v1/rules/", body, **acme.auth())

    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {key}, errors
    assert errors[key] and all(isinstance(message, str) and message for message in errors[key])
    with schema_context(acme.schema):
        assert Rule.objects.count() == 0


def test_refusals_say_what_is_available(api, acme, crm, foreign):
    wrong_action = api.post(
        "/api/v1/rules/", rule_body(crm, actions=[{**upsert_action(crm), "action": "nope"}]), **acme.auth()
    )
    assert "it offers: upsert_contact" in wrong_action.json()["actions.0.action"][0]

    wrong_type = api.post("/api/v1/rules/", rule_body(crm, actions=[{"type": "send_email"}]), **acme.auth())
    assert "connector_action" in wrong_type.json()["actions.0.type"][0]
    assert "send_to_subscription" in wrong_type.json()["actions.0.type"][0]

    bad_value = api.post(
        "/api/v1/rules/",
        rule_body(crm, actions=[upsert_action(crm, email={"value": "not-an-email"})]),
        **acme.auth(),
    )
    assert set(bad_value.json()) == {"actions.0.input.email"}


def test_several_mistakes_are_reported_together(api, acme, crm):
    body = rule_body(
        crm,
        trigger_event="Nope",
        conditions=[
            {"field": "payload.score", "op": "gt", "value": 5},
            {"field": "payload.score", "op": "in", "value": []},
        ],
        actions=[upsert_action(crm), {"type": "connector_action", "connection": crm.pk, "action": "x"}],
    )

    response = api.post("/api/v1/rules/", body, **acme.auth())

    assert response.status_code == 400
    assert set(response.json()) == {"trigger_event", "conditions.1.value", "actions.1.action"}


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_create_rules(api, acme, crm, role):
    response = api.post("/api/v1/rules/", rule_body(crm), **acme.auth(role))

    assert response.status_code == 403
    with schema_context(acme.schema):
        assert Rule.objects.count() == 0


def test_an_admin_creates_a_valid_rule(api, acme, crm):
    rule = create_rule(api, acme, rule_body(crm, trigger_connection=None, match="any"))

    assert rule["enabled"] is True
    assert rule["trigger_event"] == FORM
    assert rule["match"] == "any"
    assert rule["actions"] == [upsert_action(crm, company={"value": "Acme Lead"})]
    listed = api.get("/api/v1/rules/", **acme.auth("viewer"))
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [rule["id"]]


# --- 2. dry run ----------------------------------------------------------------------------------------------------


def test_testing_a_rule_says_what_would_happen_and_performs_nothing(api, acme, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))
    sample = {"event": {"type": FORM, "payload": {"email": "lead@example.com", "score": 72}}}

    response = api.post(f"/api/v1/rules/{rule['id']}/test/", sample, **acme.auth("member"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["triggered"] is True
    assert body["matched"] is True
    assert body["performed"] is False
    assert body["conditions"] == [{"field": "payload.score", "op": "gte", "value": 50, "result": True, "actual": 72}]
    assert body["actions"] == [
        {
            "position": 0,
            "type": "connector_action",
            "connection": crm.pk,
            "action": "upsert_contact",
            "input": {"email": "lead@example.com", "company": "Acme Lead"},
            "missing": [],
            "problems": {},
        }
    ]
    assert hubspot.server.log == []
    with schema_context(acme.schema):
        assert RuleRun.objects.count() == 0
        assert ActionRun.objects.count() == 0
        assert Event.objects.count() == 0


def test_testing_with_an_event_that_does_not_match(api, acme, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))

    low = api.post(
        f"/api/v1/rules/{rule['id']}/test/",
        {"event": {"type": FORM, "payload": {"email": "lead@example.com", "score": 10}}},
        **acme.auth("member"),
    ).json()
    other_type = api.post(
        f"/api/v1/rules/{rule['id']}/test/",
        {"event": {"type": "shopify.order.create", "payload": {"score": 99}}},
        **acme.auth("member"),
    ).json()

    assert (low["triggered"], low["matched"], low["actions"]) == (True, False, [])
    assert low["conditions"][0]["result"] is False and low["conditions"][0]["actual"] == 10
    assert (other_type["triggered"], other_type["matched"], other_type["actions"]) == (False, False, [])
    assert hubspot.server.log == []


def test_testing_shows_input_the_event_would_not_give(api, acme, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))

    body = api.post(
        f"/api/v1/rules/{rule['id']}/test/",
        {"event": {"type": FORM, "payload": {"score": 90}}},
        **acme.auth("member"),
    ).json()

    assert body["matched"] is True
    assert body["actions"][0]["missing"] == ["payload.email"]
    assert body["actions"][0]["input"] == {"company": "Acme Lead"}
    assert list(body["actions"][0]["problems"]) == ["email"]
    assert hubspot.server.log == []


def test_a_malformed_sample_event_is_refused(api, acme, crm):
    rule = create_rule(api, acme, rule_body(crm))

    response = api.post(
        f"/api/v1/rules/{rule['id']}/test/",
        {"event": {"type": "Not A Type", "payload": "text", "connection_id": "1"}},
        **acme.auth("member"),
    )

    assert response.status_code == 400
    assert set(response.json()) == {"event.type", "event.payload", "event.connection_id"}


def test_a_viewer_cannot_test_a_rule(api, acme, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))

    response = api.post(
        f"/api/v1/rules/{rule['id']}/test/",
        {"event": {"type": FORM, "payload": {"email": "lead@example.com", "score": 72}}},
        **acme.auth("viewer"),
    )

    assert response.status_code == 403
    assert hubspot.server.log == []


# --- 3. a matched event performs the action ------------------------------------------------------------------------


def test_a_matching_event_creates_the_contact_and_the_run_is_recorded(api, acme, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})

    acme.process_pending()
    run = rule_run_of(acme, event_id)
    assert (run.status, run.matched) == (RuleRun.Status.RUNNING, True)
    [action] = action_runs(acme)
    assert action.status == ActionRun.Status.PENDING
    assert hubspot.upserts == []  # nothing happens before the action's own task runs

    acme.run(dispatch.action_run_perform, action.pk)

    assert hubspot.upserts == [
        {
            "inputs": [
                {
                    "idProperty": "email",
                    "id": "lead@example.com",
                    "properties": {"email": "lead@example.com", "company": "Acme Lead"},
                }
            ]
        }
    ]
    run = refreshed(acme, run)
    assert run.status == RuleRun.Status.SUCCEEDED
    assert run.finished_at is not None
    assert run.condition_results == [{"field": "payload.score", "op": "gte", "value": 50, "result": True, "actual": 72}]

    detail = api.get(f"/api/v1/rules/runs/{run.pk}/", **acme.auth("viewer"))
    assert detail.status_code == 200
    body = detail.json()
    assert (body["rule"], body["rule_name"], body["event"], body["event_type"]) == (
        rule["id"],
        "Hot leads to HubSpot",
        event_id,
        FORM,
    )
    assert (body["matched"], body["status"], body["error"]) == (True, "succeeded", "")
    assert body["condition_results"] == run.condition_results
    [action_body] = body["action_runs"]
    assert action_body["position"] == 0
    assert action_body["type"] == "connector_action"
    assert action_body["status"] == "succeeded"
    assert action_body["attempts"] == 1
    assert action_body["error"] == ""
    assert action_body["input"] == {"email": "lead@example.com", "company": "Acme Lead"}
    assert action_body["result"]["id"] == "9001"
    assert action_body["result"]["result"]["created"] is True
    assert action_body["result"]["result"]["record"]["email"] == "lead@example.com"

    # a lead below the threshold: evaluated, not matched, nothing sent
    low_id = emitted(api, acme, {"email": "cold@example.com", "score": 10})
    acme.process_pending()
    low = rule_run_of(acme, low_id)
    assert (low.status, low.matched) == (RuleRun.Status.NO_MATCH, False)
    assert low.finished_at is not None
    assert low.condition_results[0]["result"] is False and low.condition_results[0]["actual"] == 10
    assert action_runs(acme, rule_run=low) == []
    assert len(hubspot.requests_to("contacts/batch/upsert")) == 1
    low_body = api.get(f"/api/v1/rules/runs/{low.pk}/", **acme.auth("viewer")).json()
    assert (low_body["status"], low_body["action_runs"]) == ("no_match", [])


def test_events_of_other_types_and_disabled_rules_are_not_evaluated(api, acme, crm, hubspot):
    create_rule(api, acme, rule_body(crm))
    off = create_rule(api, acme, rule_body(crm, name="Off", enabled=False))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72}, type_="shopify.order.create")
    second = emitted(api, acme, {"email": "lead@example.com", "score": 72})

    acme.process_pending()

    with schema_context(acme.schema):
        assert not RuleRun.objects.filter(event_id=event_id).exists()
        assert list(RuleRun.objects.filter(event_id=second).values_list("rule__name", flat=True)) == [
            "Hot leads to HubSpot"
        ]
        assert not RuleRun.objects.filter(rule_id=off["id"]).exists()


# --- 4. once only --------------------------------------------------------------------------------------------------


def test_an_event_and_an_action_are_each_handled_once(api, acme, crm, hubspot):
    create_rule(api, acme, rule_body(crm))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    [action] = action_runs(acme)
    acme.run(dispatch.action_run_perform, action.pk)

    acme.run(dispatch.event_process, event_id)  # a redelivered fan-out task
    acme.run(dispatch.action_run_perform, action.pk)  # a redelivered action task
    acme.process_pending()

    assert len(hubspot.requests_to("contacts/batch/upsert")) == 1
    with schema_context(acme.schema):
        assert RuleRun.objects.count() == 1
        assert ActionRun.objects.count() == 1
        action.refresh_from_db()
        assert (action.status, action.attempts) == (ActionRun.Status.SUCCEEDED, 1)


def test_posting_an_event_twice_with_the_same_idempotency_key_stores_it_once(api, acme):
    first = post_event(api, acme, {"email": "lead@example.com", "score": 72}, key="form-entry-991")
    second = post_event(api, acme, {"email": "lead@example.com", "score": 72}, key="form-entry-991")
    other = post_event(api, acme, {"email": "lead@example.com", "score": 72}, key="form-entry-992")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    with schema_context(acme.schema):
        assert Event.objects.filter(external_id="form-entry-991").count() == 1
        assert Event.objects.count() == 2


def test_the_idempotency_key_header_works_like_the_field(api, acme):
    body = {"type": FORM, "payload": {"score": 1}}
    first = api.post("/api/v1/events/", body, HTTP_IDEMPOTENCY_KEY="hdr-1", **acme.auth("member"))
    second = api.post("/api/v1/events/", body, HTTP_IDEMPOTENCY_KEY="hdr-1", **acme.auth("member"))

    assert (first.status_code, second.status_code) == (202, 200)
    with schema_context(acme.schema):
        assert Event.objects.count() == 1


# --- 5. retries ----------------------------------------------------------------------------------------------------


def test_a_rate_limited_action_is_retried_later_and_then_succeeds(api, acme, crm, hubspot, httpserver, settings):
    settings.CONNECTOR_MAX_RETRY_AFTER = 30  # a longer Retry-After is not waited out inside the request
    httpserver.expect_oneshot_request(UPSERT, method="POST").respond_with_response(
        error(429, "You have reached your secondly limit.", "RATE_LIMITS", headers={"Retry-After": "120"})
    )
    create_rule(api, acme, rule_body(crm))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    [action] = action_runs(acme)

    before = timezone.now()
    acme.run(dispatch.action_run_perform, action.pk)

    action = refreshed(acme, action)
    assert action.status == ActionRun.Status.PENDING
    assert action.attempts == 1
    assert "rate limit" in action.error and "secondly limit" in action.error
    assert before + timedelta(seconds=110) <= action.next_attempt_at <= timezone.now() + timedelta(seconds=130)
    assert hubspot.upserts == []
    assert rule_run_of(acme, event_id).status == RuleRun.Status.RUNNING

    acme.run(dispatch.action_run_perform, action.pk)  # not due yet: nothing is sent
    assert len(hubspot.requests_to("contacts/batch/upsert")) == 1

    with schema_context(acme.schema):
        ActionRun.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    acme.run(dispatch.action_run_perform, action.pk)

    action = refreshed(acme, action)
    assert (action.status, action.attempts, action.error) == (ActionRun.Status.SUCCEEDED, 2, "")
    assert upserted_emails(hubspot) == ["lead@example.com"]
    assert len(hubspot.requests_to("contacts/batch/upsert")) == 2
    assert rule_run_of(acme, event_id).status == RuleRun.Status.SUCCEEDED


def test_a_refused_action_fails_the_run_and_skips_the_later_actions(api, acme, crm, hubspot, httpserver):
    httpserver.expect_oneshot_request(UPSERT, method="POST").respond_with_response(
        error(400, "Property values were not valid: email INVALID_EMAIL", "VALIDATION_ERROR")
    )
    actions = [upsert_action(crm), upsert_action(crm, email={"value": "sales@acme.test"})]
    create_rule(api, acme, rule_body(crm, actions=actions))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    first, second = action_runs(acme)

    acme.run(dispatch.action_run_perform, first.pk)

    first, second = refreshed(acme, first), refreshed(acme, second)
    assert (first.status, first.attempts) == (ActionRun.Status.FAILED, 1)
    assert "Property values were not valid" in first.error
    assert first.finished_at is not None
    assert second.status == ActionRun.Status.SKIPPED
    run = rule_run_of(acme, event_id)
    assert run.status == RuleRun.Status.FAILED
    assert run.error.startswith("Action 1 (connector_action): ")
    assert "Property values were not valid" in run.error

    acme.run(dispatch.action_run_perform, first.pk)
    acme.run(dispatch.action_run_perform, second.pk)
    assert len(hubspot.requests_to("contacts/batch/upsert")) == 1
    assert hubspot.upserts == []

    body = api.get(f"/api/v1/rules/runs/{run.pk}/", **acme.auth("viewer")).json()
    assert body["status"] == "failed"
    assert [(a["status"], a["position"]) for a in body["action_runs"]] == [("failed", 0), ("skipped", 1)]


def test_an_event_without_the_mapped_field_fails_the_action_without_calling_the_provider(api, acme, crm, hubspot):
    create_rule(api, acme, rule_body(crm))
    event_id = emitted(api, acme, {"score": 72})
    acme.process_pending()
    [action] = action_runs(acme)

    acme.run(dispatch.action_run_perform, action.pk)

    action = refreshed(acme, action)
    assert action.status == ActionRun.Status.FAILED
    assert "email" in action.error
    assert rule_run_of(acme, event_id).status == RuleRun.Status.FAILED
    assert hubspot.server.log == []


# --- 6. actions in order -------------------------------------------------------------------------------------------


def test_the_second_action_waits_for_the_first(api, acme, crm, hubspot):
    actions = [
        upsert_action(crm),
        upsert_action(crm, email={"value": "sales@acme.test"}, first_name={"value": "Sales"}),
    ]
    create_rule(api, acme, rule_body(crm, actions=actions))
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    first, second = action_runs(acme)
    assert (first.position, first.status) == (0, ActionRun.Status.PENDING)
    assert (second.position, second.status, second.next_attempt_at) == (1, ActionRun.Status.WAITING, None)

    acme.run(dispatch.action_run_perform, second.pk)  # too early: the first has not run
    assert refreshed(acme, second).status == ActionRun.Status.WAITING
    assert hubspot.upserts == []

    acme.run(dispatch.action_run_perform, first.pk)
    assert refreshed(acme, first).status == ActionRun.Status.SUCCEEDED
    second = refreshed(acme, second)
    assert second.status == ActionRun.Status.PENDING
    assert second.next_attempt_at <= timezone.now()
    assert rule_run_of(acme, event_id).status == RuleRun.Status.RUNNING
    assert upserted_emails(hubspot) == ["lead@example.com"]

    acme.run(dispatch.action_run_perform, second.pk)

    second = refreshed(acme, second)
    assert second.status == ActionRun.Status.SUCCEEDED
    assert second.input == {"email": "sales@acme.test", "first_name": "Sales"}
    assert upserted_emails(hubspot) == ["lead@example.com", "sales@acme.test"]
    assert hubspot.upserts[1]["inputs"][0]["properties"] == {"email": "sales@acme.test", "firstname": "Sales"}
    assert rule_run_of(acme, event_id).status == RuleRun.Status.SUCCEEDED


# --- 7. a deleted connection disables its rules --------------------------------------------------------------------


def test_deleting_a_connection_disables_the_rules_that_use_it(api, acme, crm, hubspot):
    shop = acme.connection("shopify", name="Acme shop", config={"shop": "acme"})
    acting = create_rule(api, acme, rule_body(crm, name="Acts on the CRM"))
    triggered = create_rule(
        api,
        acme,
        {
            "name": "Orders from the shop",
            "trigger_event": "shopify.order.*",
            "trigger_connection": shop.pk,
            "actions": [upsert_action(crm, email={"path": "payload.customer.email"})],
        },
    )
    other_crm = acme.connection(
        "hubspot", name="Second CRM", config={"api_base_url": hubspot.base_url}, credentials={"private_app_token": "x"}
    )
    unrelated = create_rule(api, acme, rule_body(other_crm, name="Unrelated"))

    response = api.delete(f"/api/v1/connections/{crm.pk}/", **acme.auth())

    assert response.status_code == 204
    for rule_id in (acting["id"], triggered["id"]):
        body = api.get(f"/api/v1/rules/{rule_id}/", **acme.auth("viewer")).json()
        assert body["enabled"] is False
        assert body["disabled_reason"] == "The connection 'HubSpot CRM' was deleted."
    assert api.get(f"/api/v1/rules/{unrelated['id']}/", **acme.auth("viewer")).json()["enabled"] is True

    # it cannot be switched back on while its action names a connection that is gone
    again = api.patch(f"/api/v1/rules/{acting['id']}/", {"enabled": True}, **acme.auth())
    assert again.status_code == 400
    assert set(again.json()) == {"actions.0.connection"}
    assert api.get(f"/api/v1/rules/{acting['id']}/", **acme.auth("viewer")).json()["enabled"] is False

    # a disabled rule is not evaluated
    event_id = emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    with schema_context(acme.schema):
        assert list(RuleRun.objects.filter(event_id=event_id).values_list("rule_id", flat=True)) == [unrelated["id"]]


def test_deleting_a_rules_trigger_connection_disables_it_rather_than_widening_it(api, acme, crm, hubspot):
    shop = acme.connection("shopify", name="Acme shop", config={"shop": "acme"})
    rule = create_rule(
        api, acme, rule_body(crm, trigger_event="shopify.order.*", trigger_connection=shop.pk, conditions=[])
    )

    assert api.delete(f"/api/v1/connections/{shop.pk}/", **acme.auth()).status_code == 204

    body = api.get(f"/api/v1/rules/{rule['id']}/", **acme.auth("viewer")).json()
    assert (body["enabled"], body["trigger_connection"]) == (False, None)
    assert body["disabled_reason"] == "The connection 'Acme shop' was deleted."
    emitted(api, acme, {"customer": {"email": "a@b.co"}}, type_="shopify.order.create")
    acme.process_pending()
    with schema_context(acme.schema):
        assert RuleRun.objects.count() == 0


# --- 8. the sweeper ------------------------------------------------------------------------------------------------


def test_the_sweeper_requeues_due_actions_and_fails_stale_running_ones(api, acme, crm, hubspot):
    create_rule(api, acme, rule_body(crm))
    due_event = emitted(api, acme, {"email": "due@example.com", "score": 72})
    later_event = emitted(api, acme, {"email": "later@example.com", "score": 72})
    stale_event = emitted(api, acme, {"email": "stale@example.com", "score": 72})
    busy_event = emitted(api, acme, {"email": "busy@example.com", "score": 72})
    acme.process_pending()
    now = timezone.now()
    with schema_context(acme.schema):
        runs = {run.rule_run.event_id: run for run in ActionRun.objects.select_related("rule_run")}
        due, later, stale, busy = (runs[e] for e in (due_event, later_event, stale_event, busy_event))
        ActionRun.objects.filter(pk=due.pk).update(enqueued_at=None, next_attempt_at=now - timedelta(minutes=5))
        ActionRun.objects.filter(pk=later.pk).update(enqueued_at=None, next_attempt_at=now + timedelta(minutes=5))
        ActionRun.objects.filter(pk=stale.pk).update(
            status=ActionRun.Status.RUNNING, started_at=now - timedelta(hours=2), attempts=1
        )
        ActionRun.objects.filter(pk=busy.pk).update(
            status=ActionRun.Status.RUNNING, started_at=now - timedelta(seconds=30), attempts=1
        )

    with schema_context(acme.schema):
        counts = dispatch.schema_sweep()

    assert counts["actions"] == 1
    assert counts["stale"] == 1
    due, later, stale, busy = (refreshed(acme, run) for run in (due, later, stale, busy))
    assert due.status == ActionRun.Status.PENDING and due.enqueued_at is not None and due.enqueued_at >= now
    assert later.status == ActionRun.Status.PENDING and later.enqueued_at is None
    assert stale.status == ActionRun.Status.FAILED
    assert stale.error.startswith("Interrupted while running")
    assert rule_run_of(acme, stale_event).status == RuleRun.Status.FAILED
    assert busy.status == ActionRun.Status.RUNNING
    assert hubspot.server.log == []  # the sweeper only queues; an interrupted action is never repeated


# --- 9. listing and tenant isolation -------------------------------------------------------------------------------


def test_rule_runs_filter_by_rule_and_match(api, acme, crm, hubspot, django_assert_max_num_queries):
    hot = create_rule(api, acme, rule_body(crm, name="Hot", actions=[upsert_action(crm)]))
    vip = create_rule(
        api,
        acme,
        rule_body(crm, name="VIP", conditions=[{"field": "payload.tags", "op": "contains", "value": "vip"}]),
    )
    first = emitted(api, acme, {"email": "a@example.com", "score": 90, "tags": ["vip"]})
    second = emitted(api, acme, {"email": "b@example.com", "score": 20, "tags": ["vip"]})
    third = emitted(api, acme, {"email": "c@example.com", "score": 60, "tags": []})
    acme.process_pending()

    def listed(query: str) -> set[tuple[int, int]]:
        response = api.get(f"/api/v1/rules/runs/?{query}", **acme.auth("viewer"))
        assert response.status_code == 200, response.content
        return {(row["rule"], row["event"]) for row in response.json()["results"]}

    assert listed(f"rule={hot['id']}&matched=true") == {(hot["id"], first), (hot["id"], third)}
    assert listed(f"rule={hot['id']}&matched=false") == {(hot["id"], second)}
    assert listed(f"rule={vip['id']}&matched=true") == {(vip["id"], first), (vip["id"], second)}
    assert listed("matched=false") == {(hot["id"], second), (vip["id"], third)}
    assert listed("status=no_match") == {(hot["id"], second), (vip["id"], third)}
    with django_assert_max_num_queries(LIST_QUERIES):
        assert len(listed("")) == 6
    assert api.get("/api/v1/rules/runs/?rule=abc", **acme.auth("viewer")).status_code == 400


def test_another_tenant_cannot_see_test_change_or_delete_a_rule_or_its_runs(api, acme, globex, crm, hubspot):
    rule = create_rule(api, acme, rule_body(crm))
    emitted(api, acme, {"email": "lead@example.com", "score": 72})
    acme.process_pending()
    with schema_context(acme.schema):
        run_id = RuleRun.objects.get().pk
    with schema_context(globex.schema):
        assert Rule.objects.count() == 0 and RuleRun.objects.count() == 0
    sample = {"event": {"type": FORM, "payload": {"email": "x@example.com", "score": 99}}}

    assert api.get(f"/api/v1/rules/{rule['id']}/", **globex.auth()).status_code == 404
    assert api.post(f"/api/v1/rules/{rule['id']}/test/", sample, **globex.auth()).status_code == 404
    assert api.patch(f"/api/v1/rules/{rule['id']}/", {"enabled": False}, **globex.auth()).status_code == 404
    assert api.delete(f"/api/v1/rules/{rule['id']}/", **globex.auth()).status_code == 404
    assert api.get(f"/api/v1/rules/runs/{run_id}/", **globex.auth()).status_code == 404
    assert api.get("/api/v1/rules/", **globex.auth()).json()["results"] == []
    assert api.get("/api/v1/rules/runs/", **globex.auth()).json()["results"] == []

    with schema_context(acme.schema):
        assert Rule.objects.filter(pk=rule["id"], enabled=True).exists()
        assert RuleRun.objects.filter(pk=run_id).exists()
    assert api.get(f"/api/v1/rules/{rule['id']}/", **acme.auth("viewer")).status_code == 200


MALFORMED_ACTIONS = {
    "type as a list": lambda crm: {"type": ["connector_action"]},
    "connection as a list": lambda crm: {**upsert_action(crm), "connection": [crm.pk]},
    "connection as an object": lambda crm: {**upsert_action(crm), "connection": {"id": crm.pk}},
    "action as a list": lambda crm: {**upsert_action(crm), "action": ["upsert_contact"]},
    "input as a list": lambda crm: {**upsert_action(crm), "input": [1]},
    "an input field as a list": lambda crm: {**upsert_action(crm), "input": {"email": [1]}},
    "a mapped path as a list": lambda crm: {**upsert_action(crm), "input": {"email": {"path": [1]}}},
    "subscription as a list": lambda crm: {"type": "send_to_subscription", "subscription": [1]},
    "agent as a list": lambda crm: {"type": "run_agent", "agent": [1], "input": "Summarise."},
    "agent input as an object": lambda crm: {"type": "run_agent", "agent": 1, "input": {"a": [1]}},
    "workflow config as a list": lambda crm: {"type": "start_workflow", "config": [1]},
    "workflow config as an object": lambda crm: {"type": "start_workflow", "config": {"id": 1}},
}


@pytest.mark.parametrize("case", list(MALFORMED_ACTIONS))
def test_an_action_whose_values_have_the_wrong_json_type_is_a_400_not_a_500(api, acme, crm, case):
    response = api.post("/api/v1/rules/", rule_body(crm, actions=[MALFORMED_ACTIONS[case](crm)]), **acme.auth())

    assert response.status_code == 400, response.content
    assert all(key.startswith("actions.0") for key in response.json()), response.json()
    with schema_context(acme.schema):
        assert Rule.objects.count() == 0
