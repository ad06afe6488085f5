from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector lives in the public schema, on every tenant schema's search path (knowledge base embeddings)."""

    dependencies = [("accounts", "0001_initial")]

    operations = [VectorExtension()]
