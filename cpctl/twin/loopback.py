"""HTTP servers of the twin on 127.0.0.1, served from daemon threads."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


def serve_in_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """Start answering requests of `server` in a daemon thread; returns the thread."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def shut_down(server: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    """Stop serving, free the port and wait (bounded) for the thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
