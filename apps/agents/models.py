"""AI agents (tenant schema): LLM providers, agents and their grants, the knowledge base, runs and
conversations. API keys are encrypted like connector credentials; nothing here is shared between tenants."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.connectors.crypto import EncryptedJSONField
from apps.connectors.models import Connection

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2; an OpenAI-compatible embedder is asked for this many


class LLMProvider(models.Model):
    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        AZURE_OPENAI = "azure_openai", "Azure OpenAI"
        OLLAMA = "ollama", "Ollama"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible endpoint"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=500, blank=True)  # empty: the kind's public endpoint
    api_version = models.CharField(max_length=40, blank=True)  # Azure OpenAI
    default_model = models.CharField(max_length=200)
    credentials = EncryptedJSONField(default=dict, blank=True)  # {"api_key": ...}
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_error = models.CharField(max_length=500, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class KnowledgeCollection(models.Model):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=200)
    goal = models.TextField(max_length=2000)
    backstory = models.TextField(max_length=8000, blank=True)
    provider = models.ForeignKey(LLMProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="agents")
    model = models.CharField(max_length=200, blank=True)  # empty: the provider's default model
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.70"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("2"))],
    )
    max_iterations = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    max_execution_time = models.PositiveIntegerField(  # seconds
        default=120, validators=[MinValueValidator(5), MaxValueValidator(1800)]
    )
    enabled = models.BooleanField(default=True)
    template = models.CharField(max_length=40, blank=True)
    collections = models.ManyToManyField(KnowledgeCollection, blank=True, related_name="agents")
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ToolGrant(models.Model):
    """What an agent may do with one connection: read these resources, perform these actions."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tool_grants")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="agent_grants")
    resources = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list, blank=True)
    # {action: "allow" | "ask"}; an action not named is allowed (apps.agents.approvals.action_policy)
    action_policies = models.JSONField(default=dict, blank=True)
    # runs started by a rule (acting on data an outsider wrote) ask before every write unless this is set
    allow_unattended_from_rules = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "connection"]
        constraints = [models.UniqueConstraint(fields=["agent", "connection"], name="uniq_grant_per_connection")]

    def __str__(self) -> str:
        return f"{self.agent_id} -> {self.connection_id}"


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    collection = models.ForeignKey(KnowledgeCollection, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)  # detected from the content, not the name
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=500, blank=True)
    pages_total = models.PositiveIntegerField(default=0)
    pages_done = models.PositiveIntegerField(default=0)
    chunks_count = models.PositiveIntegerField(default=0)
    embedding_model = models.CharField(max_length=200, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class DocumentFile(models.Model):
    """The uploaded bytes, apart from the listing row; deleted with the document."""

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="file")
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"file of document {self.document_id}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    collection = models.ForeignKey(KnowledgeCollection, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    page = models.PositiveIntegerField(null=True, blank=True)  # 1-based, when the format has pages
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    search = models.GeneratedField(
        expression=SearchVector("text", config="english"), output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        ordering = ["document", "ordinal"]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search"], name="chunk_search_gin"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} of document {self.document_id}"


class Conversation(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title or f"conversation {self.pk}"


class AgentRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        WAITING_APPROVAL = "waiting_approval"  # paused at a tool call until a person decides (AgentApproval)

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    input = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    output = models.TextField(blank=True)
    error = models.CharField(max_length=1000, blank=True)
    # what a paused run needs to go on in a fresh worker: the transcript so far and the decided tool call
    resume_state = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=20, default="api")  # api | rule | workflow
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of agent {self.agent_id}: {self.status}"


class RunStep(models.Model):
    class Kind(models.TextChoices):
        LLM = "llm"  # one model call
        TOOL_CALL = "tool_call"  # a tool the agent was allowed to use, executed
        TOOL_DENIED = "tool_denied"  # refused by the grant check; returned to the model as an error
        TOOL_ERROR = "tool_error"  # allowed, but failed
        APPROVAL = "approval"  # a tool call waiting for, or given, a person's decision
        ANSWER = "answer"

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    tool = models.CharField(max_length=100, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    result_summary = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="uniq_step_position")]

    def __str__(self) -> str:
        return f"step {self.position} of run {self.run_id}: {self.kind}"


class AgentApproval(models.Model):
    """A write an agent (or an MCP client) proposed and a person must approve before it happens. Pending ones are
    indexed publicly by expiry (trigger in agents 0002) so the expiry sweep never visits every tenant schema."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"

    class Source(models.TextChoices):
        AGENT_RUN = "agent_run"
        MCP = "mcp"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices)
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="approvals")
    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, null=True, blank=True, related_name="approvals")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="approvals")
    action = models.CharField(max_length=100)
    proposed_input = models.JSONField(default=dict, blank=True)
    final_input = models.JSONField(null=True, blank=True)
    reason = models.TextField(max_length=4000, blank=True)
    comment = models.CharField(max_length=1000, blank=True)
    actor_label = models.CharField(max_length=255, blank=True)
    requested_by_user_id = models.BigIntegerField(null=True, blank=True)
    decided_by_user_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="approval_status_expiry")]

    def __str__(self) -> str:
        return f"approval of {self.action} on connection {self.connection_id}: {self.status}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    run = models.ForeignKey(AgentRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role} message in conversation {self.conversation_id}"
