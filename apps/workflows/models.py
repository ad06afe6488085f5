"""Durable workflows (tenant schema): what a tenant configured (template + parameters + schedule) and the runs
Temporal executed for it, mirrored here so lists, filters and isolation are the database's."""

from __future__ import annotations

from django.db import models


class WorkflowConfig(models.Model):
    class Overlap(models.TextChoices):
        SKIP = "skip"  # a run still going: the next one is skipped
        BUFFER_ONE = "buffer_one"
        ALLOW_ALL = "allow_all"
        CANCEL_OTHER = "cancel_other"

    name = models.CharField(max_length=100)
    template = models.CharField(max_length=40)  # a key of apps.workflows.templates.TEMPLATES
    parameters = models.JSONField(default=dict)
    schedule_cron = models.CharField(max_length=100, blank=True)  # empty: manual only
    timezone = models.CharField(max_length=64, default="UTC")
    overlap_policy = models.CharField(max_length=12, choices=Overlap.choices, default=Overlap.SKIP)
    enabled = models.BooleanField(default=True)
    schedule_synced_at = models.DateTimeField(null=True, blank=True)
    schedule_error = models.CharField(max_length=500, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WorkflowRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        WAITING_APPROVAL = "waiting_approval"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        TERMINATED = "terminated"
        TIMED_OUT = "timed_out"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        RULE = "rule"
        API = "api"

    config = models.ForeignKey(WorkflowConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    template = models.CharField(max_length=40)
    workflow_id = models.CharField(max_length=255, unique=True)
    temporal_run_id = models.CharField(max_length=100, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    parameters = models.JSONField(default=dict)
    steps = models.JSONField(default=list)  # [{"name", "status", "started_at", "finished_at", "result", "error"}]
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    agent_run = models.ForeignKey(
        "agents.AgentRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="workflow_runs"
    )
    created_by_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.template} {self.workflow_id}: {self.status}"


class WorkflowApproval(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="approvals")
    step = models.CharField(max_length=100)
    preview = models.JSONField(default=dict, blank=True)  # what would be published
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="uniq_approval_per_step")]

    def __str__(self) -> str:
        return f"approval of {self.step} in run {self.run_id}: {self.status}"


class SyncRecord(models.Model):
    """What `connection_sync` remembers of a record: its id and a digest of its data, never the data itself."""

    config = models.ForeignKey(WorkflowConfig, on_delete=models.CASCADE, related_name="sync_records")
    resource = models.CharField(max_length=60)
    record_id = models.CharField(max_length=255)
    digest = models.CharField(max_length=64)
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["config", "resource", "record_id"], name="uniq_sync_record"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}/{self.record_id}"
