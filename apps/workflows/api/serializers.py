from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.workflows import services
from apps.workflows.models import WorkflowApproval, WorkflowConfig, WorkflowRun
from bizosaas.last_run import LastRunSerializer, last_run

# --- templates -----------------------------------------------------------------------------------------------


class WorkflowTemplateParamSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    required = serializers.BooleanField()  # type: ignore[assignment]
    default = serializers.JSONField(allow_null=True)
    minimum = serializers.IntegerField(allow_null=True)
    maximum = serializers.IntegerField(allow_null=True)
    of = serializers.CharField(allow_null=True)
    help = serializers.CharField(allow_blank=True)


class WorkflowTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = WorkflowTemplateParamSerializer(many=True)


# --- configs -------------------------------------------------------------------------------------------------


class WorkflowConfigSerializer(serializers.ModelSerializer):
    next_runs = serializers.SerializerMethodField(
        help_text="The next five start times in the configuration's time zone; empty when manual only or disabled."
    )
    schedule = serializers.SerializerMethodField(help_text="scheduled, paused or manual")
    last_run = serializers.SerializerMethodField(help_text="The latest run, or null when it never ran.")

    class Meta:
        model = WorkflowConfig
        fields = [
            "id",
            "name",
            "template",
            "parameters",
            "schedule_cron",
            "timezone",
            "overlap_policy",
            "enabled",
            "schedule",
            "next_runs",
            "last_run",
            "schedule_synced_at",
            "schedule_error",
            "created_by_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LastRunSerializer(allow_null=True))
    def get_last_run(self, config) -> dict | None:
        return last_run(config, config.runs.all(), at="started_at")

    def get_next_runs(self, config) -> list[str]:
        return [moment.isoformat() for moment in services.next_runs(config)]

    def get_schedule(self, config) -> str:
        if not config.schedule_cron:
            return "manual"
        return "scheduled" if config.enabled else "paused"


class WorkflowConfigWriteSerializer(serializers.Serializer):
    """Shapes only; the service checks the parameters against the template, the cron and the time zone."""

    name = serializers.CharField(max_length=100)
    template = serializers.CharField(max_length=40)
    parameters = serializers.JSONField(required=False, default=dict)
    schedule_cron = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    overlap_policy = serializers.ChoiceField(
        choices=WorkflowConfig.Overlap.choices, required=False, default=WorkflowConfig.Overlap.SKIP
    )
    enabled = serializers.BooleanField(required=False, default=True)


# --- runs and approvals --------------------------------------------------------------------------------------

RUN_FIELDS = [
    "id",
    "config",
    "config_name",
    "template",
    "workflow_id",
    "temporal_run_id",
    "trigger",
    "status",
    "error",
    "agent_run",
    "created_by_id",
    "started_at",
    "finished_at",
]


class WorkflowApprovalSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="run.template", read_only=True)
    config = serializers.IntegerField(source="run.config_id", read_only=True, allow_null=True)

    class Meta:
        model = WorkflowApproval
        fields = [
            "id",
            "run",
            "template",
            "config",
            "step",
            "preview",
            "status",
            "requested_at",
            "expires_at",
            "decided_at",
            "decided_by_id",
            "comment",
        ]
        read_only_fields = fields


class WorkflowRunSerializer(serializers.ModelSerializer):
    config_name = serializers.CharField(source="config.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = WorkflowRun
        fields = RUN_FIELDS
        read_only_fields = fields


class WorkflowRunDetailSerializer(WorkflowRunSerializer):
    approvals = WorkflowApprovalSerializer(many=True, read_only=True)

    class Meta(WorkflowRunSerializer.Meta):
        fields = [*RUN_FIELDS, "parameters", "steps", "result", "approvals"]
        read_only_fields = fields


class WorkflowDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SchedulePreviewSerializer(serializers.Serializer):
    schedule_cron = serializers.CharField(max_length=100, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")


class SchedulePreviewResultSerializer(serializers.Serializer):
    next_runs = serializers.ListField(child=serializers.DateTimeField(), help_text="In the schedule's time zone.")
