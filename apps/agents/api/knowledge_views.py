from __future__ import annotations

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import CONFIGURE
from apps.agents.api import knowledge_serializers as s
from apps.agents.knowledge import ingest
from apps.agents.knowledge.detect import KnowledgeError
from apps.agents.knowledge.search import MAX_LIMIT, search
from apps.agents.models import Document, KnowledgeCollection
from bizosaas.api import JSONObjectParser
from bizosaas.digits import ascii_digits
from bizosaas.views import TenantScoped


class KnowledgeErrors:
    """Typed knowledge-base failures answer with their own status (413, 415, 502) and a readable detail."""

    def handle_exception(self, exc):
        if isinstance(exc, KnowledgeError):
            return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
        return super().handle_exception(exc)  # type: ignore[misc]


def _ids(params, name: str) -> list[int] | None:
    """`?collection=1,2` or `?collection=1&collection=2` -> [1, 2]; absent -> None."""
    values = [part.strip() for raw in params.getlist(name) for part in raw.split(",") if part.strip()]
    if not values:
        return None
    if not all(ascii_digits(value) for value in values):
        raise ValidationError({name: ["Integer ids, comma-separated."]})
    return [int(value) for value in values]


# --- collections ---------------------------------------------------------------------------------------------


@extend_schema(tags=["knowledge"])
class CollectionViewSet(
    TenantScoped, KnowledgeErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Knowledge collections: groups of documents an agent may be allowed to search."""

    resource = "knowledge"
    serializer_class = s.CollectionSerializer
    action_permissions = {"reembed": CONFIGURE}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return KnowledgeCollection.objects.none()
        return KnowledgeCollection.objects.annotate(documents_count=Count("documents"))

    def _body(self, pk: int) -> dict:
        return s.CollectionSerializer(self.get_queryset().get(pk=pk)).data

    @extend_schema(request=s.CollectionWriteSerializer, responses={201: s.CollectionSerializer})
    def create(self, request):
        data = s.CollectionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collection = ingest.collection_create(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(self._body(collection.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CollectionWriteSerializer, responses={200: s.CollectionSerializer})
    def partial_update(self, request, pk=None):
        collection = self.get_object()
        data = s.CollectionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        ingest.collection_update(tenant=self.tenant, actor=self.actor, collection=collection, **data.validated_data)
        return Response(self._body(collection.pk))

    def destroy(self, request, pk=None):
        ingest.collection_delete(tenant=self.tenant, actor=self.actor, collection=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"])
    def reembed(self, request, pk=None):
        """Re-embeds, in the background, the documents whose vectors came from another embedding model."""
        collection = self.get_object()
        queued = ingest.collection_reembed_queue(collection=collection)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


# --- documents -----------------------------------------------------------------------------------------------


@extend_schema(
    tags=["knowledge"],
    parameters=[
        OpenApiParameter("collection", int),
        OpenApiParameter("status", str, enum=Document.Status.values),
    ],
)
class DocumentViewSet(
    TenantScoped, KnowledgeErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Uploaded documents and their ingestion progress (status, pages_done of pages_total, chunks_count)."""

    resource = "knowledge"
    serializer_class = s.DocumentSerializer
    parser_classes = [MultiPartParser, FormParser, JSONObjectParser]
    action_permissions = {"reingest": CONFIGURE}
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Document.objects.none()
        params = self.request.query_params
        queryset = Document.objects.select_related("collection")
        if self.action == "list":
            collections = _ids(params, "collection")
            if collections is not None:
                queryset = queryset.filter(collection_id__in=collections)
            state = params.get("status")
            if state:
                if state not in Document.Status.values:
                    raise ValidationError({"status": [f"One of: {', '.join(Document.Status.values)}."]})
                queryset = queryset.filter(status=state)
        return queryset

    @extend_schema(
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={201: s.DocumentSerializer, 413: dict, 415: dict},
    )
    def create(self, request):
        """Uploads a PDF, DOCX, Markdown or text file (multipart: collection, file, title); ingestion follows in
        the background. The type is read from the content: anything else answers 415, too large 413."""
        data = s.DocumentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collection = KnowledgeCollection.objects.filter(pk=data.validated_data["collection"]).first()
        if collection is None:
            raise ValidationError({"collection": ["No such collection in this tenant."]})
        document = ingest.document_upload(
            tenant=self.tenant,
            actor=self.actor,
            collection=collection,
            uploaded_file=data.validated_data["file"],
            title=data.validated_data.get("title"),
        )
        return Response(s.DocumentSerializer(document).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        ingest.document_delete(tenant=self.tenant, actor=self.actor, document=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.DocumentSerializer})
    @action(detail=True, methods=["post"])
    def reingest(self, request, pk=None):
        document = ingest.document_reingest(tenant=self.tenant, actor=self.actor, document=self.get_object())
        return Response(s.DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)


# --- search --------------------------------------------------------------------------------------------------


class SearchView(TenantScoped, KnowledgeErrors, APIView):
    resource = "knowledge"

    @extend_schema(
        tags=["knowledge"],
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("collection", int, description="one id or several, comma-separated"),
            OpenApiParameter("document", int, description="one id or several, comma-separated"),
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT}, default 8"),
        ],
        responses={200: s.SearchResultSerializer},
    )
    def get(self, request):
        """Hybrid search (meaning and keywords) over this tenant's documents; each result cites its document,
        page and passage."""
        params = request.query_params
        query = params.get("q", "").strip()
        if not query:
            raise ValidationError({"q": ["A search query is required."]})
        if len(query) > 1000:
            raise ValidationError({"q": ["At most 1000 characters."]})
        raw_limit = params.get("limit", "8")
        if not ascii_digits(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ValidationError({"limit": [f"An integer from 1 to {MAX_LIMIT}."]})
        hits = search(
            query,
            collection_ids=_ids(params, "collection"),
            document_ids=_ids(params, "document"),
            limit=int(raw_limit),
        )
        return Response({"query": query, "results": [hit.as_dict() for hit in hits]})
