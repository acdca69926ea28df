"""A real HTTP collector on loopback that records what SIEM forwarders send it."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One accepted request."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes
    """The body after gzip decompression."""

    def json(self) -> Any:
        return json.loads(self.body)

    def concatenated(self) -> list[Any]:
        """Objects of a body made of concatenated JSON objects (Splunk HEC)."""
        decoder = json.JSONDecoder()
        text = self.body.decode()
        objects, index = [], 0
        while index < len(text):
            while index < len(text) and text[index].isspace():
                index += 1
            if index == len(text):
                break
            obj, index = decoder.raw_decode(text, index)
            objects.append(obj)
        return objects


@dataclass
class Collector:
    """Answers 200 and records, unless told to fail: ``failures`` is a list of actions
    (``500``, ``503``, ``429``, ``close``) consumed one per request."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> str | None:
        with self.lock:
            self.attempts += 1
            return self.failures.pop(0) if self.failures else None


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            failure = collector.take_failure()
            if failure == "close":
                self.close_connection = True
                self.connection.close()  # no response at all: a transport error
                return
            if failure is not None:
                self.send_response(int(failure))
                if failure == "429":
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            with collector.lock:
                collector.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body)
                )
            reply = b'{"text":"Success","code":0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


@contextmanager
def running_collector(failures: list[str] | None = None) -> Iterator[Collector]:
    """Start a collector on a free loopback port for the duration of the block."""
    collector = Collector(failures=list(failures or []))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(collector))
    server.daemon_threads = True
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
