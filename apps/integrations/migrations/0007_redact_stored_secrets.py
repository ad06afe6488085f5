"""Events stored before secrets were redacted at intake: Zoho CRM notifications kept their channel token in the
payload and the raw body, and every provider's signature header was kept. Both go; nothing else changes."""

import json

from django.db import migrations

SIGNATURE_WORDS = ("signature", "hmac")
REDACTED = "[redacted]"


def redact(apps, schema_editor):
    Event = apps.get_model("integrations", "Event")
    for event in Event.objects.filter(source="webhook").only("id", "provider", "payload", "body", "headers").iterator():
        changed = False
        headers = {k: v for k, v in (event.headers or {}).items() if not any(w in k.lower() for w in SIGNATURE_WORDS)}
        if headers != (event.headers or {}):
            event.headers, changed = headers, True
        payload = event.payload
        if event.provider == "zoho_crm" and isinstance(payload, dict) and isinstance(payload.get("token"), str):
            token = payload["token"]
            event.payload = {**payload, "token": REDACTED}
            body = bytes(event.body or b"")
            if token:
                body = body.replace(token.encode(), REDACTED.encode())
                body = body.replace(json.dumps(token)[1:-1].encode(), REDACTED.encode())
            event.body, changed = body, True
        if changed:
            event.save(update_fields=["headers", "payload", "body"])


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0006_trim_delivery_response_excerpts"),
    ]

    operations = [migrations.RunPython(redact, migrations.RunPython.noop, elidable=True)]
