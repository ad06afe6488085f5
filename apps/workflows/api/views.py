"""Workflows API: templates to pick from, the tenant's configurations (with their Temporal schedules), the runs
Temporal executed for them and the approvals they wait for. Viewers read; members run, cancel, retry and decide
approvals; admins configure."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from apps.accounts.permissions import READ, USE
from apps.workflows import services
from apps.workflows.api import serializers as s
from apps.workflows.models import WorkflowApproval, WorkflowConfig, WorkflowRun
from apps.workflows.templates import TEMPLATES, describe_all
from bizosaas.filters import choice_filter, int_filters
from bizosaas.last_run import with_last_run
from bizosaas.views import TenantScoped


@extend_schema(tags=["workflows"])
class TemplateViewSet(TenantScoped, viewsets.ViewSet):
    """The workflow templates a configuration can use, each with its parameter schema."""

    resource = "workflows"

    @extend_schema(responses={200: s.WorkflowTemplateSerializer(many=True)})
    def list(self, request):
        self.tenant  # noqa: B018  (settles tenant access)
        return Response(describe_all())


@extend_schema(tags=["workflows"])
class ConfigViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Configured workflows: a template, its parameters and a schedule (cron in a time zone, or manual only)."""

    resource = "workflows"
    serializer_class = s.WorkflowConfigSerializer
    action_permissions = {"run": USE, "preview_schedule": READ}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return WorkflowConfig.objects.none()
        self.tenant  # noqa: B018
        runs = WorkflowRun.objects.all()
        queryset = with_last_run(WorkflowConfig.objects.all(), runs, owner="config", at="started_at")
        return choice_filter(self.request.query_params, queryset, "template", list(TEMPLATES))

    @extend_schema(parameters=[OpenApiParameter("template", str, enum=list(TEMPLATES))])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.WorkflowConfigWriteSerializer, responses={201: s.WorkflowConfigSerializer})
    def create(self, request):
        data = s.WorkflowConfigWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config = services.config_create(tenant=self.tenant, actor=self.actor, data=dict(data.validated_data))
        return Response(s.WorkflowConfigSerializer(config).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WorkflowConfigWriteSerializer, responses={200: s.WorkflowConfigSerializer})
    def partial_update(self, request, pk=None):
        config = self.get_object()
        data = s.WorkflowConfigWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        config = services.config_update(
            tenant=self.tenant, actor=self.actor, config=config, data=dict(data.validated_data)
        )
        return Response(s.WorkflowConfigSerializer(config).data)

    def destroy(self, request, pk=None):
        services.config_delete(tenant=self.tenant, actor=self.actor, config=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.SchedulePreviewSerializer, responses={200: s.SchedulePreviewResultSerializer})
    @action(detail=False, methods=["post"], url_path="preview-schedule")
    def preview_schedule(self, request):
        """The next five start times of a schedule before it is saved, in its time zone."""
        data = s.SchedulePreviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runs = services.schedule_preview(data.validated_data)  # field errors answer 400
        return Response({"next_runs": [run.isoformat() for run in runs]})

    @extend_schema(request=None, responses={202: s.WorkflowRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Starts the workflow now (scheduled, manual-only or disabled configurations alike)."""
        run = services.run_now(tenant=self.tenant, actor=self.actor, config=self.get_object())
        return Response(s.WorkflowRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["workflows"])
class RunViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs as Temporal executed them, mirrored here: status, per-step results, approvals, the agent run."""

    resource = "workflows"
    action_permissions = {"cancel": USE, "retry": USE}

    def get_serializer_class(self):
        return s.WorkflowRunDetailSerializer if self.action == "retrieve" else s.WorkflowRunSerializer

    def get_queryset(self):
        if self.schema_generation():
            return WorkflowRun.objects.none()
        self.tenant  # noqa: B018
        queryset = WorkflowRun.objects.select_related("config")
        if self.action == "retrieve":
            return queryset.prefetch_related(Prefetch("approvals", queryset=WorkflowApproval.objects.order_by("id")))
        queryset = queryset.defer("steps", "result", "parameters")
        params = self.request.query_params
        queryset = int_filters(params, queryset, {"config": "config_id"})
        queryset = choice_filter(params, queryset, "status", WorkflowRun.Status.values)
        return choice_filter(params, queryset, "template", list(TEMPLATES))

    @extend_schema(
        parameters=[
            OpenApiParameter("config", int),
            OpenApiParameter("status", str, enum=WorkflowRun.Status.values),
            OpenApiParameter("template", str, enum=list(TEMPLATES)),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: s.WorkflowRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = services.run_cancel(tenant=self.tenant, actor=self.actor, run=self.get_object())
        return Response(s.WorkflowRunSerializer(run).data)

    @extend_schema(request=None, responses={202: s.WorkflowRunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Starts a new run with the same template and parameters."""
        run = services.run_retry(tenant=self.tenant, actor=self.actor, run=self.get_object())
        return Response(s.WorkflowRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["workflows"])
class ApprovalViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Steps waiting for a person: approving or rejecting one resumes its run."""

    resource = "workflows"
    serializer_class = s.WorkflowApprovalSerializer
    action_permissions = {"approve": USE, "reject": USE}

    def get_queryset(self):
        if self.schema_generation():
            return WorkflowApproval.objects.none()
        self.tenant  # noqa: B018
        queryset = WorkflowApproval.objects.select_related("run")
        params = self.request.query_params
        queryset = int_filters(params, queryset, {"run": "run_id"})
        return choice_filter(params, queryset, "status", WorkflowApproval.Status.values)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=WorkflowApproval.Status.values),
            OpenApiParameter("run", int),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _decide(self, request, approved: bool) -> Response:
        approval = self.get_object()
        data = s.WorkflowDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            approval = services.approval_decide(
                tenant=self.tenant,
                actor=self.actor,
                approval=approval,
                approved=approved,
                comment=data.validated_data["comment"],
            )
        except DjangoPermissionDenied as exc:  # approver_must_differ: say why
            raise PermissionDenied(str(exc)) from None
        return Response(s.WorkflowApprovalSerializer(approval).data)

    @extend_schema(request=s.WorkflowDecisionSerializer, responses={200: s.WorkflowApprovalSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approved=True)

    @extend_schema(request=s.WorkflowDecisionSerializer, responses={200: s.WorkflowApprovalSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, approved=False)
