"""django-tenants' PostgreSQL backend, remembering the search path the server session holds.

django-tenants forgets the path on every `set_tenant()`, so each request (which starts in the public schema and
then selects its tenant) and each background job that selects the same tenant again sends one more
`SET search_path` before its first query: a round trip that changes nothing when the session already has that
path. This backend remembers what the server holds, and sends the statement only when the path differs.

What the server holds is forgotten whenever it may have changed behind our back, exactly where django-tenants
forgets its own record: the connection closes (or is replaced after a failed health check), a transaction or a
savepoint is rolled back (a `SET` is transactional in PostgreSQL: rolling back the transaction that sent it
restores the previous path), or the `SET` itself fails.
"""

from __future__ import annotations

from django.utils.asyncio import async_unsafe
from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.utils import get_limit_set_calls

DatabaseError = tenants_base.DatabaseError
IntegrityError = tenants_base.IntegrityError


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._server_search_path: list[str] | None = None  # what the open session holds, when known
        super().__init__(*args, **kwargs)

    def _handle_search_path(self, cursor=None):
        if (
            get_limit_set_calls()
            and not self._setting_search_path
            and self.search_path_set_schemas is None
            and self._server_search_path is not None
            and self.schema_name
            and self._get_cursor_search_paths() == self._server_search_path
        ):
            self.search_path_set_schemas = self._server_search_path  # the session has it already
            return
        super()._handle_search_path(cursor)
        if not self._setting_search_path:
            self._server_search_path = self.search_path_set_schemas  # None when the SET failed

    @async_unsafe
    def connect(self):
        self._server_search_path = None  # a new session starts with the server's default path
        super().connect()

    def close(self):
        self._server_search_path = None
        super().close()

    @async_unsafe
    def rollback(self):
        self._server_search_path = None
        super().rollback()

    @async_unsafe
    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._server_search_path = None
