"""The knowledge base: uploaded documents, extracted and chunked text, embeddings and hybrid search. Everything
here runs in a tenant's schema: the tables exist per tenant, so one tenant's search never sees another's."""
