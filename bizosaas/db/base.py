"""django-tenants' PostgreSQL backend, remembering the search path the server session holds.

django-tenants forgets the path on every `set_tenant()`, so each request (which starts in the public schema and
then selects its tenant) and each background job that selects the same tenant again sends one more
`SET search_path` before its first query: a round trip that changes nothing when the session already has that
path. This backend remembers what the server holds, and sends the statement only when the path differs.

What the server holds is forgotten whenever it may have changed behind our back, exactly where django-tenants
forgets its own record: the connection closes (or is replaced after a failed health check), a transaction or a
savepoint is rolled back (a `SET` is transactional in PostgreSQL: rolling back the transaction that sent it
restores the previous path), or the `SET` itself fails.

It also spares a busy connection Django's health check. With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before
the first query of every request and every task, to find a connection the server closed while it sat in
between. A connection that was in use less than DB_HEALTH_CHECK_QUIET_SECONDS ago is checked locally instead,
without a round trip. It must be open and not broken in psycopg, with no error since its last check, and its
socket must have nothing to read. A server that ends a session (a restart, `pg_terminate_backend`, an idle
timeout) sends a message and closes the socket, and that is what the socket check sees. Anything on the
socket, and any connection quiet for longer than that, gets Django's `SELECT 1` as before.
"""

from __future__ import annotations

import select
import time

from django.conf import settings
from django.utils.asyncio import async_unsafe
from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.utils import get_limit_set_calls

DatabaseError = tenants_base.DatabaseError
IntegrityError = tenants_base.IntegrityError


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._server_search_path: list[str] | None = None  # what the open session holds, when known
        self._used_at = float("-inf")  # monotonic time of the last cursor opened on the current session
        super().__init__(*args, **kwargs)

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done  # type: ignore[has-type]
            and not self.errors_occurred
            and time.monotonic() - self._used_at < settings.DB_HEALTH_CHECK_QUIET_SECONDS
            and self._session_looks_alive()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _session_looks_alive(self) -> bool:
        """Whether the session is open as far as the client can tell without asking the server: psycopg has
        not seen it close or break, and nothing (such as the server's farewell) waits to be read."""
        if self.connection.closed or self.connection.broken:
            return False
        try:
            poller = select.poll()  # not select(): a process with over 1,024 files open has descriptors beyond it
            poller.register(self.connection.fileno(), select.POLLIN | select.POLLPRI)
            return not poller.poll(0)  # POLLERR and POLLHUP are reported whatever was asked
        except (OSError, ValueError):
            return False

    def _cursor(self, name=None):
        cursor = super()._cursor(name)
        self._used_at = time.monotonic()
        return cursor

    def _handle_search_path(self, cursor=None):
        if (
            get_limit_set_calls()
            and not self._setting_search_path
            and self.search_path_set_schemas is None  # type: ignore[has-type]
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
        self._used_at = float("-inf")
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
