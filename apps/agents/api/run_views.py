from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import USE
from apps.agents import runs
from apps.agents.api import run_serializers as s
from apps.agents.models import Agent, AgentRun, Conversation, Message, RunStep
from bizosaas.filters import choice_filter, int_filters
from bizosaas.views import TenantScoped


def _agent(agent_id) -> Agent:
    agent = Agent.objects.select_related("provider").filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    return agent


@extend_schema(tags=["agent runs"])
class AgentRunStartView(TenantScoped, APIView):
    """Starts a run of an agent: 202 with the queued run; poll `runs/{id}/` for its steps and outcome."""

    resource = "agents"
    action = "start"
    action_permissions = {"start": USE}

    @extend_schema(request=s.RunCreateSerializer, responses={202: s.RunSerializer})
    def post(self, request, agent_id: int):
        self.tenant  # noqa: B018  (settles tenant access before touching the tenant's schema)
        agent = _agent(agent_id)
        data = s.RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = None
        if data.validated_data.get("conversation"):
            conversation = Conversation.objects.filter(pk=data.validated_data["conversation"]).first()
            if conversation is None:
                raise ValidationError({"conversation": ["No such conversation."]})
        run = runs.run_create(
            tenant=self.tenant,
            actor=self.actor,
            agent=agent,
            input=data.validated_data["input"],
            conversation=conversation,
        )
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["agent runs"])
class RunViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "agents"
    action_permissions = {"cancel": USE}

    def get_serializer_class(self):
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer

    def get_queryset(self):
        if self.schema_generation():
            return AgentRun.objects.none()
        self.tenant  # noqa: B018
        queryset = AgentRun.objects.select_related("agent")
        if self.action == "retrieve":
            return queryset.prefetch_related(Prefetch("steps", queryset=RunStep.objects.order_by("position")))
        params = self.request.query_params
        queryset = int_filters(params, queryset, {"agent": "agent_id", "conversation": "conversation_id"})
        return choice_filter(params, queryset, "status", AgentRun.Status.values)

    @extend_schema(
        parameters=[
            OpenApiParameter("agent", int),
            OpenApiParameter("conversation", int),
            OpenApiParameter("status", str, enum=AgentRun.Status.values),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: s.RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = runs.run_cancel(tenant=self.tenant, actor=self.actor, run=self.get_object())
        return Response(s.RunSerializer(run).data)


@extend_schema(tags=["agent runs"])
class ConversationViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Conversations with an agent: the message history is kept here and fed to each next run."""

    resource = "agents"
    action_permissions = {"create": USE, "messages": USE}
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        return s.ConversationDetailSerializer if self.action == "retrieve" else s.ConversationSerializer

    def get_queryset(self):
        if self.schema_generation():
            return Conversation.objects.none()
        self.tenant  # noqa: B018
        if self.action == "retrieve":
            return Conversation.objects.select_related("agent").prefetch_related(
                Prefetch("messages", queryset=Message.objects.order_by("created_at", "id"))
            )
        return int_filters(self.request.query_params, runs.conversation_list(), {"agent": "agent_id"})

    @extend_schema(parameters=[OpenApiParameter("agent", int)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ConversationCreateSerializer, responses={201: s.ConversationSerializer})
    def create(self, request):
        data = s.ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = Agent.objects.filter(pk=data.validated_data["agent"]).first()
        if agent is None:
            raise ValidationError({"agent": ["No such agent."]})
        conversation = runs.conversation_create(
            tenant=self.tenant, actor=self.actor, agent=agent, title=data.validated_data["title"]
        )
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.MessageCreateSerializer, responses={202: s.MessagePostedSerializer})
    @action(detail=True, methods=["post"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        data = s.MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = runs.conversation_message_post(
            tenant=self.tenant, actor=self.actor, conversation=conversation, content=data.validated_data["content"]
        )
        message = run.messages.filter(role=Message.Role.USER).first()
        body = {"run": s.RunSerializer(run).data, "message": s.MessageSerializer(message).data}
        return Response(body, status=status.HTTP_202_ACCEPTED)
