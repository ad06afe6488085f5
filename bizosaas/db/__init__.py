"""The database backend: django-tenants' PostgreSQL backend, with `SET search_path` sent only when the session's
path actually changes (bizosaas.db.base)."""
