"""The benchmark's latency proxy (``benchmarks/_latency.py``): what passes through it arrives whole and in order,
never before its delay, and a connection's bytes do not wait for another connection's."""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.conftest import benchmark_module

BODY = bytes(range(256)) * 800  # 200 KiB: several chunks each way
ONE_WAY = 0.05


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[::-1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def latency() -> Iterator[ModuleType]:
    with benchmark_module("_latency") as module:
        yield module


@pytest.fixture
def proxied(latency: ModuleType) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = latency.DelayingProxy(ONE_WAY)
    proxy.target = server.server_address[1]
    yield proxy.port
    proxy.close()
    server.shutdown()
    server.server_close()


def _post(port: int, body: bytes) -> tuple[bytes, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    connection.request("POST", "/", body=body)
    answer = connection.getresponse().read()
    elapsed = time.monotonic() - started
    connection.close()
    return answer, elapsed


def test_bytes_arrive_whole_in_order_and_one_round_trip_late(proxied: int) -> None:
    answer, elapsed = _post(proxied, BODY)
    assert answer == BODY[::-1]
    assert elapsed >= 2 * ONE_WAY


def test_connections_are_delayed_side_by_side(proxied: int) -> None:
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(_post(proxied, BODY)[0])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [BODY[::-1]] * 4
