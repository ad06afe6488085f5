from rest_framework import serializers

from apps.agents.models import Document, KnowledgeCollection


class CollectionSerializer(serializers.ModelSerializer):
    documents_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = KnowledgeCollection
        fields = ["id", "name", "description", "documents_count", "created_at"]
        read_only_fields = ["id", "documents_count", "created_at"]


class CollectionWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class DocumentSerializer(serializers.ModelSerializer):
    collection_name = serializers.CharField(source="collection.name", read_only=True)
    progress = serializers.SerializerMethodField(help_text="pages_done / pages_total, 0 to 1")

    class Meta:
        model = Document
        fields = [
            "id",
            "collection",
            "collection_name",
            "title",
            "filename",
            "content_type",
            "size",
            "sha256",
            "status",
            "error",
            "pages_total",
            "pages_done",
            "progress",
            "chunks_count",
            "embedding_model",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields

    def get_progress(self, document) -> float:
        if document.status == Document.Status.READY:
            return 1.0
        return round(document.pages_done / document.pages_total, 3) if document.pages_total else 0.0


class DocumentUploadSerializer(serializers.Serializer):
    collection = serializers.IntegerField()
    file = serializers.FileField(allow_empty_file=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    collection_id = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True)
    excerpt = serializers.CharField()
    score = serializers.FloatField()


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField()
    results = SearchHitSerializer(many=True)
