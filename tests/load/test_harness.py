"""The load harness's own parts: the wrk driver, the audit reconciliation, the report."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.benchmarks import _wrk
from tests.load import report
from tests.load.reconcile import reconcile
from tests.load.workload import ENDPOINTS, Phase, lua_string, write_script
from tests.support.services import unavailable


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 on /ok and 403 elsewhere, echoing X-Request-ID; records every request."""

    seen: list[tuple[str, str, str, bytes]]
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request_id = self.headers.get("X-Request-ID", "")
        with self.lock:
            self.seen.append((self.command, self.path, request_id, body))
        status = 200 if self.path.startswith("/ok") else 403
        self.send_response(status)
        self.send_header("x-request-id", request_id)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer  # noqa: N815 - the names http.server dispatches to

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="recorder")
def fixture_recorder() -> Iterator[tuple[str, list[tuple[str, str, str, bytes]]]]:
    if shutil.which("wrk") is None:
        unavailable("wrk", "install wrk to run the load harness")
    seen: list[tuple[str, str, str, bytes]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_lua_string_escapes_quotes_backslashes_and_non_ascii() -> None:
    assert lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert lua_string("é\r\n") == '"\\195\\169\\13\\10"'


def test_workload_script_tags_every_request_and_counts_statuses(
    recorder: tuple[str, list[tuple[str, str, str, bytes]]], tmp_path: Path
) -> None:
    base, seen = recorder
    body = json.dumps({"action": "tool:invoke", "parameters": {"q": "select 'x'"}})
    pool = [
        ("POST", "/ok/evaluate", "Authorization: Bearer t1\r\nContent-Type: application/json\r\n",
         body),
        ("GET", "/denied?limit=5", "Authorization: Bearer t2\r\n", ""),
    ]  # fmt: skip
    script, ids = tmp_path / "w.lua", tmp_path / "ids"
    write_script(script, host=base.removeprefix("http://"), prefix="ld-test-p", pool=pool,
                 rate=0, ids_file=ids, seed=1)  # fmt: skip

    result = _wrk.run(base + "/", script, duration=1, connections=2, threads=1)

    assert result.requests > 0
    assert result.statuses.get("200", 0) + result.statuses.get("403", 0) == result.requests
    assert result.non_2xx == result.statuses.get("403", 0)
    answered = [line for f in tmp_path.glob("ids.*") for line in f.read_text().splitlines()]
    assert len(answered) == result.statuses.get("200", 0)
    assert len(set(answered)) == len(answered)  # every request id is unique
    received = {request_id: (method, path, data) for method, path, request_id, data in seen}
    for request_id in answered:
        assert request_id.startswith("ld-test-p-1-")
        method, path, data = received[request_id]  # the server saw the very same id
        assert (method, path, json.loads(data)) == ("POST", "/ok/evaluate", json.loads(body))
    assert {path for _, path, _, _ in seen} == {"/ok/evaluate", "/denied?limit=5"}


def test_static_script_reports_through_the_shared_runner(
    recorder: tuple[str, list[tuple[str, str, str, bytes]]], tmp_path: Path
) -> None:
    base, seen = recorder
    script = tmp_path / "s.lua"
    script.write_text(_wrk.static_script("tok", '{"a": 1}'))

    result = _wrk.run(base + "/ok", script, duration=1, connections=1, threads=1)

    assert result.requests > 0
    assert result.non_2xx == 0
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert all(body == b'{"a": 1}' for _, _, _, body in seen)


def test_reconcile_finds_missing_duplicated_and_unanswered_rows(tmp_path: Path) -> None:
    (tmp_path / "ids-peak-evaluate.1").write_text("ld-evaluate-peak-1-1\nld-evaluate-peak-1-2\n")
    (tmp_path / "ids-peak-authzen.1").write_text("ld-authzen-peak-1-1\n")
    rows = Counter({
        "ld-evaluate-peak-1-1": 1,  # as it should be
        "ld-evaluate-peak-1-2": 2,  # one row too many
        "ld-evaluate-peak-1-3": 1,  # answered after the client stopped
        "ld-authzen-peak-1-1": 97,  # three of the batch's 100 rows lost
    })  # fmt: skip

    tallies = {t.endpoint: t for t in reconcile(rows, {
        "evaluate": [tmp_path / "ids-peak-evaluate"], "authzen": [tmp_path / "ids-peak-authzen"],
    })}  # fmt: skip

    evaluate, authzen = tallies["evaluate"], tallies["authzen"]
    assert (evaluate.answered, evaluate.decisions, evaluate.rows_matched) == (2, 2, 2)
    assert (evaluate.missing, evaluate.duplicated, evaluate.unanswered_rows) == (0, 1, 1)
    assert (authzen.decisions, authzen.rows_matched, authzen.missing) == (100, 97, 3)


def _phase(label: str, p99: float) -> Phase:
    result = _wrk.WrkResult(requests=100, duration_s=10, p50_ms=1, p90_ms=2, p95_ms=3,
                            p99_ms=p99, max_ms=p99 * 2, mean_ms=1.5, non_2xx=0,
                            socket_errors=0, timeouts=0)  # fmt: skip
    return Phase(label, {e.name: result for e in ENDPOINTS}, {})


def test_report_replaces_only_its_backends_block(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Gateway\n\nkept text\n")

    def run(backend: str, p99: float) -> report.Run:
        return report.Run(backend=backend, command=f"cmd {backend}", seed_counts={"users": 5},
                          seed_seconds=1.0, http_seed={}, peak=_phase("peak", p99),
                          load_before=1.0)  # fmt: skip

    report.write(run("sqlite", 11.0), doc)
    report.write(run("postgres", 22.0), doc)
    report.write(run("sqlite", 33.0), doc)

    text = doc.read_text()
    assert text.startswith("# Performance\n\n## Gateway\n\nkept text\n")
    assert text.count(report.SECTION) == 1
    assert text.count("<!-- load:sqlite:begin -->") == 1
    assert "33.00 ms" in text
    assert "11.00 ms" not in text
    assert "22.00 ms" in text
    assert "cmd postgres" in text
