"""The approvals inbox: one list of what waits for a person, agent approvals (apps.agents.approvals) and workflow
approvals (WorkflowApproval) in one shape, the pending count for the navigation, and the decisions. It lives in the
workflows app because that app sits above agents and may read both. Viewers read; members decide."""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import READ, USE
from apps.agents import approvals
from apps.agents.models import AgentApproval
from apps.workflows import services
from apps.workflows.models import WorkflowApproval
from bizosaas.api import page_limit
from bizosaas.views import TenantScoped

STATUSES = ["pending", "approved", "rejected", "expired"]


class InboxItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["agent", "workflow"])
    id = serializers.CharField(help_text="A uuid for an agent approval, an integer for a workflow approval.")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    proposed_input = serializers.JSONField()
    final_input = serializers.JSONField(allow_null=True)
    reason = serializers.CharField()
    action = serializers.CharField()
    connection = serializers.DictField(allow_null=True)
    agent = serializers.DictField(allow_null=True)
    workflow = serializers.DictField(allow_null=True)
    run = serializers.IntegerField(allow_null=True, help_text="The agent run, or the workflow run.")
    source = serializers.CharField()  # type: ignore[assignment]
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField()


class InboxPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = InboxItemSerializer(many=True)


class CountSerializer(serializers.Serializer):
    pending = serializers.IntegerField()


class ApproveSerializer(serializers.Serializer):
    input = serializers.JSONField(required=False, help_text="Edited input for the action; omitted: as proposed.")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


def _agent_item(approval: AgentApproval) -> dict:
    connection = approval.connection
    agent = approval.agent
    return {
        "kind": "agent",
        "id": str(approval.pk),
        "title": f"{agent.name if agent else approval.actor_label or 'MCP client'}: {approval.action} on "
        f"{connection.name}",
        "status": approval.status,
        "proposed_input": approval.proposed_input,
        "final_input": approval.final_input,
        "reason": approval.reason,
        "action": approval.action,
        "connection": {"id": connection.pk, "name": connection.name, "provider": connection.provider},
        "agent": {"id": agent.pk, "name": agent.name} if agent else None,
        "workflow": None,
        "run": approval.run_id,
        "source": approval.source,
        "requested_by": approval.actor_label,
        "requested_at": approval.created_at,
        "expires_at": approval.expires_at,
        "decided_at": approval.decided_at,
        "comment": approval.comment,
        "result": approval.result,
        "error": approval.error,
    }


def _workflow_item(approval: WorkflowApproval) -> dict:
    run = approval.run
    name = run.config.name if run.config_id and run.config else run.template
    return {
        "kind": "workflow",
        "id": str(approval.pk),
        "title": f"{name}: {approval.step}",
        "status": approval.status,
        "proposed_input": approval.preview,
        "final_input": None,
        "reason": "",
        "action": approval.step,
        "connection": None,
        "agent": None,
        "workflow": {"run": run.pk, "template": run.template, "name": name},
        "run": run.pk,
        "source": "workflow",
        "requested_by": "",
        "requested_at": approval.requested_at,
        "expires_at": approval.expires_at,
        "decided_at": approval.decided_at,
        "comment": approval.comment,
        "result": None,
        "error": "",
    }


def _find(approval_id: str):
    """The agent approval (uuid) or workflow approval (integer) of this tenant; 404 otherwise."""
    try:
        key = uuid.UUID(approval_id)
    except ValueError:
        key = None
    found: AgentApproval | WorkflowApproval | None
    if key is not None:
        found = AgentApproval.objects.select_related("agent", "connection", "run").filter(pk=key).first()
    elif approval_id.isascii() and approval_id.isdigit() and len(approval_id) < 19:
        found = WorkflowApproval.objects.select_related("run", "run__config").filter(pk=int(approval_id)).first()
    else:
        found = None
    if found is None:
        raise NotFound("No such approval.")
    return found


def _item(approval) -> dict:
    return _agent_item(approval) if isinstance(approval, AgentApproval) else _workflow_item(approval)


@extend_schema(tags=["approvals"])
class InboxView(TenantScoped, APIView):
    """Agent and workflow approvals, newest first; `?status=pending` for what waits."""

    resource = "approvals"
    action = "inbox"
    action_permissions = {"inbox": READ}

    @extend_schema(
        operation_id="approvals_list",
        parameters=[
            OpenApiParameter("status", str, enum=STATUSES),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: InboxPageSerializer},
    )
    def get(self, request):
        self.tenant  # noqa: B018  (settles tenant access before touching the tenant's schema)
        wanted = request.query_params.get("status") or ""
        if wanted and wanted not in STATUSES:
            raise ValidationError({"status": [f"One of: {', '.join(STATUSES)}."]})
        limit = page_limit(request.query_params.get("limit"), default=50)
        raw_offset = request.query_params.get("offset") or "0"
        offset = int(raw_offset) if raw_offset.isascii() and raw_offset.isdigit() and len(raw_offset) < 7 else 0
        agent = AgentApproval.objects.select_related("agent", "connection")
        workflow = WorkflowApproval.objects.select_related("run", "run__config")
        if wanted:
            agent, workflow = agent.filter(status=wanted), workflow.filter(status=wanted)
        window = offset + limit
        items = [_agent_item(a) for a in agent.order_by("-created_at")[:window]]
        items += [_workflow_item(w) for w in workflow.order_by("-requested_at", "-id")[:window]]
        items.sort(key=lambda item: item["requested_at"], reverse=True)
        body = {"count": agent.count() + workflow.count(), "results": items[offset:window]}
        return Response(InboxPageSerializer(body).data)


@extend_schema(tags=["approvals"])
class InboxCountView(TenantScoped, APIView):
    resource = "approvals"
    action = "retrieve"

    @extend_schema(operation_id="approvals_count", responses={200: CountSerializer})
    def get(self, request):
        self.tenant  # noqa: B018
        pending = (
            AgentApproval.objects.filter(status=AgentApproval.Status.PENDING).count()
            + WorkflowApproval.objects.filter(status=WorkflowApproval.Status.PENDING).count()
        )
        return Response({"pending": pending})


@extend_schema(tags=["approvals"])
class InboxItemView(TenantScoped, APIView):
    resource = "approvals"
    action = "retrieve"

    @extend_schema(operation_id="approvals_retrieve", responses={200: InboxItemSerializer})
    def get(self, request, approval_id: str):
        self.tenant  # noqa: B018
        return Response(InboxItemSerializer(_item(_find(approval_id))).data)


class _Decide(TenantScoped, APIView):
    resource = "approvals"
    action = "decide"
    action_permissions = {"decide": USE}

    def decide(self, approval, data: dict):
        raise NotImplementedError

    def post(self, request, approval_id: str):
        self.tenant  # noqa: B018
        approval = _find(approval_id)
        try:
            decided = self.decide(approval, request.data if isinstance(request.data, dict) else {})
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except approvals.ApprovalConflict as exc:
            return Response({"detail": str(exc), "status": exc.approval.status}, status=status.HTTP_409_CONFLICT)
        return Response(InboxItemSerializer(_item(decided)).data)


@extend_schema(tags=["approvals"])
class ApproveView(_Decide):
    """Approves as proposed, or with `input` edited (checked against the action's input schema: 400 with field
    errors, nothing changed). The paused run then performs it and goes on."""

    def decide(self, approval, data: dict):
        body = ApproveSerializer(data=data)
        body.is_valid(raise_exception=True)
        if isinstance(approval, WorkflowApproval):
            if "input" in body.validated_data:
                raise ValidationError({"input": ["A workflow approval is approved as proposed."]})
            return services.approval_decide(
                tenant=self.tenant,
                actor=self.actor,
                approval=approval,
                approved=True,
                comment=body.validated_data["comment"],
            )
        return approvals.approval_approve(
            tenant=self.tenant, actor=self.actor, approval=approval, input=body.validated_data.get("input")
        )

    @extend_schema(operation_id="approvals_approve", request=ApproveSerializer, responses={200: InboxItemSerializer})
    def post(self, request, approval_id: str):
        return super().post(request, approval_id)


@extend_schema(tags=["approvals"])
class RejectView(_Decide):
    """Rejects with an optional comment; nothing is performed and the run is told."""

    def decide(self, approval, data: dict):
        body = RejectSerializer(data=data)
        body.is_valid(raise_exception=True)
        comment = body.validated_data["comment"]
        if isinstance(approval, WorkflowApproval):
            return services.approval_decide(
                tenant=self.tenant, actor=self.actor, approval=approval, approved=False, comment=comment
            )
        return approvals.approval_reject(tenant=self.tenant, actor=self.actor, approval=approval, comment=comment)

    @extend_schema(operation_id="approvals_reject", request=RejectSerializer, responses={200: InboxItemSerializer})
    def post(self, request, approval_id: str):
        return super().post(request, approval_id)
