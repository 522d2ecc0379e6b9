"""The probes' connection pool: it never closes or re-hands a connection already given to a request (httpcore #1110),
and asks only the connection it is about to hand out whether it has expired."""

from __future__ import annotations

import httpcore
from httpcore._sync.connection_pool import PoolRequest

from pytest_authcheck._deadline import DeadlinePool

ORIGIN = httpcore.URL("https://idp.example/token").origin


class FakeConnection:
    """A pooled HTTP/1.1 connection as the pool sees it: idle until its request's thread starts sending."""

    def __init__(self, name: str, *, idle: bool = True, expired: bool = False) -> None:
        self.name, self.idle, self.expired = name, idle, expired
        self.expiry_asked = 0

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == ORIGIN

    def is_available(self) -> bool:
        return self.idle

    def is_idle(self) -> bool:
        return self.idle

    def has_expired(self) -> bool:
        self.expiry_asked += 1  # a poll of the socket, at httpcore
        return self.expired

    def is_closed(self) -> bool:
        return False

    def __repr__(self) -> str:
        return self.name


def pool_with(connections: list[FakeConnection], max_connections: int, max_keepalive: int) -> DeadlinePool:
    pool = DeadlinePool(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    pool._connections = list(connections)  # type: ignore[assignment]
    return pool


def request() -> PoolRequest:
    return PoolRequest(httpcore.Request("POST", "https://idp.example/token"))


def test_a_connection_handed_to_a_request_is_not_closed_as_surplus() -> None:
    handed, spare = FakeConnection("handed"), FakeConnection("spare")
    pool = pool_with([handed, spare], max_connections=4, max_keepalive=1)
    waiting = request()
    waiting.assign_to_connection(handed)  # its thread has not started sending: the connection still looks idle
    pool._requests = [waiting]

    closing = pool._assign_requests_to_connections()

    assert closing == [spare]
    assert pool._connections == [handed]
    assert waiting.connection is handed


def test_a_connection_handed_to_a_request_is_not_closed_as_expired() -> None:
    handed = FakeConnection("handed", expired=True)
    pool = pool_with([handed], max_connections=4, max_keepalive=4)
    waiting = request()
    waiting.assign_to_connection(handed)
    pool._requests = [waiting]

    assert pool._assign_requests_to_connections() == []
    assert pool._connections == [handed]


def test_a_connection_handed_to_a_request_is_not_handed_again_nor_replaced() -> None:
    handed = FakeConnection("handed")
    pool = pool_with([handed], max_connections=1, max_keepalive=1)
    first, second = request(), request()
    first.assign_to_connection(handed)
    pool._requests = [first, second]

    assert pool._assign_requests_to_connections() == []
    assert second.is_queued()  # it waits for the connection to come back instead of taking it or closing it
    assert pool._connections == [handed]


def test_queued_requests_still_get_idle_connections_and_new_ones() -> None:
    idle, busy = FakeConnection("idle"), FakeConnection("busy", idle=False)
    pool = pool_with([idle, busy], max_connections=3, max_keepalive=3)
    running, first, second, third = request(), request(), request(), request()
    running.assign_to_connection(busy)
    pool._requests = [running, first, second, third]

    assert pool._assign_requests_to_connections() == []
    assert first.connection is idle
    assert second.connection is not None and second.connection not in (idle, busy)
    assert third.is_queued()  # the pool is full and no connection is idle and free


def test_only_the_connection_about_to_be_handed_out_is_asked_whether_it_expired() -> None:
    expired, fresh, spare = FakeConnection("expired", expired=True), FakeConnection("fresh"), FakeConnection("spare")
    pool = pool_with([expired, fresh, spare], max_connections=4, max_keepalive=4)
    waiting = request()
    pool._requests = [waiting]

    assert pool._assign_requests_to_connections() == [expired]  # closed where httpcore would have closed it
    assert waiting.connection is fresh and pool._connections == [fresh, spare]
    assert (expired.expiry_asked, fresh.expiry_asked, spare.expiry_asked) == (1, 1, 0)
