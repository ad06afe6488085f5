"""A loopback HTTP server that answers at a crawl: headers at once (or not), then one byte of the body every
`interval` seconds. It is how a hostile or broken endpoint holds a caller whose timeouts are per operation only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class SlowDripServer:
    def __init__(self, *, interval: float = 0.2, body_bytes: int = 10_000, status: int = 200, headers_first=True):
        self.interval, self.body_bytes, self.status, self.headers_first = interval, body_bytes, status, headers_first
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slow-drip", daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> SlowDripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        head = (
            f"HTTP/1.1 {self.status} OK\r\nContent-Type: application/json\r\nContent-Length: {self.body_bytes}\r\n\r\n"
        ).encode()
        try:
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request; its body may still be arriving, which is fine
            pending = head if self.headers_first else head + b" " * self.body_bytes
            if self.headers_first:
                conn.sendall(head)
                pending = b" " * self.body_bytes
            for index in range(len(pending)):
                if self._stop.wait(self.interval):
                    return
                conn.sendall(pending[index : index + 1])
        except OSError:
            pass  # the caller gave up, as it should
        finally:
            time.sleep(0.01)
            conn.close()
