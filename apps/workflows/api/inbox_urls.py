"""The approvals inbox (agent and workflow approvals together)."""

from django.urls import re_path

from apps.workflows.api import inbox

ID = r"(?P<approval_id>[0-9a-fA-F-]{1,36})"

urlpatterns = [
    re_path(r"^approvals/?$", inbox.InboxView.as_view(), name="approvals"),
    re_path(r"^approvals/count/?$", inbox.InboxCountView.as_view(), name="approvals-count"),
    re_path(rf"^approvals/{ID}/?$", inbox.InboxItemView.as_view(), name="approvals-item"),
    re_path(rf"^approvals/{ID}/approve/?$", inbox.ApproveView.as_view(), name="approvals-approve"),
    re_path(rf"^approvals/{ID}/reject/?$", inbox.RejectView.as_view(), name="approvals-reject"),
]
