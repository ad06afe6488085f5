"""The unified models each category normalises to. Every normalised record keeps the provider's raw payload
beside it (`Record.raw`); these builders only fix the shape of `Record.data`."""

from __future__ import annotations

from typing import Any


def _shape(fields: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(fields)
    if unknown:
        raise TypeError(f"unknown unified fields: {sorted(unknown)}")
    return {name: values.get(name) for name in fields}


CONTACT = (
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "tags",
    "lead_score",
    "created_at",
    "updated_at",
)
POST = ("id", "title", "status", "url", "excerpt", "updated_at")
ORDER = ("id", "number", "status", "currency", "total", "customer_email", "created_at", "updated_at")
PRODUCT = ("id", "name", "sku", "price", "currency", "stock", "status", "updated_at")
DEAL = ("id", "name", "stage", "amount", "currency", "close_date", "created_at", "updated_at")
CAMPAIGN_METRICS = ("campaign_id", "campaign_name", "date", "impressions", "clicks", "cost", "conversions")
REPORT_ROW = ("dimensions", "metrics")
MEMBER = ("id", "email", "status", "first_name", "last_name", "tags", "updated_at")
CAMPAIGN_REPORT = ("campaign_id", "subject", "sent", "opens", "clicks", "unsubscribes", "send_time")
TICKET = ("id", "subject", "status", "priority", "requester_email", "created_at", "updated_at")

MODELS = {
    "crm.contact": CONTACT,
    "crm.deal": DEAL,
    "cms.post": POST,
    "cms.page": POST,
    "ecommerce.order": ORDER,
    "ecommerce.product": PRODUCT,
    "ads.campaign_metrics": CAMPAIGN_METRICS,
    "analytics.report_row": REPORT_ROW,
    "email.member": MEMBER,
    "email.campaign_report": CAMPAIGN_REPORT,
    "support.ticket": TICKET,
}


def normalised(model: str, **values: Any) -> dict[str, Any]:
    """`normalised("crm.contact", id=..., email=...)`: the model's every field, None where the provider has none."""
    return _shape(MODELS[model], values)
