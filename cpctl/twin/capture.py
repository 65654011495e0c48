"""Everything the twin saw, kept as text, so a test can prove a secret appears nowhere in it.

Sources write as they go (Lambda logs, payloads, Python log records, Fargate events, the live
output); the twin adds what AWS stores (execution histories, records, notifications, log groups)
when asked by `LocalTwin.captured()`.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Captured:
    source: str  # "lambda-log:validate_config", "execution-history:...", "cli-output", ...
    text: str


class Capture:
    """A thread-safe list of captured texts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Captured] = []

    def add(self, source: str, text: str) -> None:
        if text:
            with self._lock:
                self._items.append(Captured(source, text))

    def items(self) -> list[Captured]:
        with self._lock:
            return list(self._items)


class CaptureLogHandler(logging.Handler):
    """Keeps every Python log record of the process (moto's, boto's, the twin's) in a `Capture`."""

    def __init__(self, capture: Capture) -> None:
        super().__init__(logging.DEBUG)
        self._capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001 - a broken record must not break the code that logged it
            message = f"{record.name}: {record.msg!r} {record.args!r}"
        self._capture.add(f"python-log:{record.name}", message)


class ThreadRoutedStream(io.TextIOBase):
    """A stand-in for sys.stdout/sys.stderr: writes of a thread that is running a Lambda go to that
    invocation's buffer (its CloudWatch log), everything else to the stream it replaced."""

    def __init__(self, fallback: TextIO) -> None:
        super().__init__()
        self.fallback = fallback
        self._local = threading.local()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8") or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.fallback.isatty()

    def fileno(self) -> int:
        return self.fallback.fileno()

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(self._local, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.fallback.write(text)

    def flush(self) -> None:
        if getattr(self._local, "buffer", None) is None:
            self.fallback.flush()

    def route_to(self, buffer: io.StringIO | None) -> None:
        """Send this thread's writes to `buffer` (None: back to the fallback)."""
        self._local.buffer = buffer

    def routed_to(self) -> io.StringIO | None:
        """Where this thread's writes go now (None: the fallback)."""
        buffer: io.StringIO | None = getattr(self._local, "buffer", None)
        return buffer


_ROUTED: dict[str, ThreadRoutedStream] = {}


def _routed(name: str, current: TextIO | ThreadRoutedStream) -> ThreadRoutedStream:
    """The process's one routed stream for `name`: a handler that kept it from an earlier twin (a
    Powertools Logger keeps the sys.stdout it was created with) must still be routed by later ones."""
    stream = _ROUTED.get(name)
    if isinstance(current, ThreadRoutedStream):
        current = current.fallback  # already routed: keep what it falls back to
    if stream is None:
        stream = _ROUTED[name] = ThreadRoutedStream(current)
    else:
        stream.fallback = current
    return stream


class StdStreams:
    """Installs ThreadRoutedStreams as sys.stdout and sys.stderr, and points console log handlers
    (Powertools' Logger writes to the sys.stdout it found when created) at them."""

    def __init__(self) -> None:
        self.stdout: ThreadRoutedStream | None = None
        self.stderr: ThreadRoutedStream | None = None
        self._retargeted: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []

    def install(self) -> None:
        self.stdout = _routed("stdout", sys.stdout)
        self.stderr = _routed("stderr", sys.stderr)
        sys.stdout = self.stdout
        sys.stderr = self.stderr

    def uninstall(self) -> None:
        for handler, stream in self._retargeted:
            handler.setStream(stream)
        self._retargeted.clear()
        if self.stdout is not None and sys.stdout is self.stdout:
            sys.stdout = self.stdout.fallback
        if self.stderr is not None and sys.stderr is self.stderr:
            sys.stderr = self.stderr.fallback
        self.stdout = self.stderr = None

    def ensure_installed(self) -> None:
        """Install the routed streams again if someone replaced sys.stdout/sys.stderr meanwhile
        (pytest does between the phases of a test): the replacement becomes their fallback."""
        if self.stdout is not None and sys.stdout is not self.stdout:
            self.stdout.fallback = sys.stdout
            sys.stdout = self.stdout
        if self.stderr is not None and sys.stderr is not self.stderr:
            self.stderr.fallback = sys.stderr
            sys.stderr = self.stderr

    def retarget_console_handlers(self) -> None:
        """Point every logging StreamHandler writing to a console stream at the routed streams."""
        if self.stdout is None or self.stderr is None:
            return
        routed = {id(self.stdout), id(self.stderr)}
        consoles = {
            id(sys.__stdout__): self.stdout,
            id(sys.__stderr__): self.stderr,
            id(self.stdout.fallback): self.stdout,
            id(self.stderr.fallback): self.stderr,
        }
        for handler in _stream_handlers():
            stream = handler.stream
            if id(stream) in routed:
                continue
            target = consoles.get(id(stream))
            if target is not None:
                self._retargeted.append((handler, stream))
                handler.setStream(target)  # type: ignore[arg-type]

    def routing(self, buffer: io.StringIO) -> _Routing:
        return _Routing(self, buffer)


class _Routing:
    """Routes this thread's writes to a buffer, then back to where they went before (a handler that
    invokes another one inline gets its own log back afterwards)."""

    def __init__(self, streams: StdStreams, buffer: io.StringIO) -> None:
        self._streams = streams
        self._buffer = buffer
        self._previous: list[tuple[ThreadRoutedStream, io.StringIO | None]] = []

    def __enter__(self) -> None:
        for stream in (self._streams.stdout, self._streams.stderr):
            if stream is not None:
                self._previous.append((stream, stream.routed_to()))
                stream.route_to(self._buffer)

    def __exit__(self, *exc: object) -> None:
        for stream, previous in self._previous:
            stream.route_to(previous)
        self._previous.clear()


def _stream_handlers() -> Iterator[logging.StreamHandler[TextIO]]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                yield handler
