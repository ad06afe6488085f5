from rest_framework import serializers

from apps.agents.models import AgentRun, Conversation, Message, RunStep

RUN_FIELDS = [
    "id",
    "agent",
    "agent_name",
    "conversation",
    "input",
    "status",
    "output",
    "error",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "duration_ms",
    "source",
    "created_by_id",
    "created_at",
    "started_at",
    "finished_at",
]


class RunStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunStep
        fields = [
            "position",
            "kind",
            "tool",
            "arguments",
            "result_summary",
            "prompt_tokens",
            "completion_tokens",
            "created_at",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True)

    class Meta:
        model = AgentRun
        fields = RUN_FIELDS
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RUN_FIELDS, "steps"]
        read_only_fields = fields


class RunCreateSerializer(serializers.Serializer):
    input = serializers.CharField(allow_blank=True, trim_whitespace=False)
    conversation = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "run", "created_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "agent", "agent_name", "title", "created_by_id", "created_at", "updated_at"]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class ConversationCreateSerializer(serializers.Serializer):
    agent = serializers.IntegerField(min_value=1)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class MessageCreateSerializer(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class MessagePostedSerializer(serializers.Serializer):
    """The answer to a new message: the run that will answer it (poll runs/{id}/)."""

    run = RunSerializer()
    message = MessageSerializer()
