"""What the run keeps of its answers and evidence to the end: compact, and read back exactly as it was given."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import pytest

from pytest_authcheck._answer_headers import AnswerHeaders
from pytest_authcheck._http import Exchange
from pytest_authcheck.report.text import write_json
from pytest_authcheck.results.exchanges import ExchangeStore

LINES = [("Content-Type", "application/json"), ("WWW-Authenticate", 'Bearer realm="a"'),
         ("www-authenticate", "DPoP algs=\"ES256\", Basic"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"),
         ("Cache-Control", "no-store")]


@pytest.mark.parametrize("key", ["content-type", "Content-Type", "WWW-AUTHENTICATE", "set-cookie", "location"])
def test_answer_headers_read_like_httpx_headers(key: str) -> None:
    ours, theirs = AnswerHeaders(httpx.Headers(LINES).multi_items()), httpx.Headers(LINES)
    assert ours.get(key) == theirs.get(key) and ours.get(key, "none") == theirs.get(key, "none")
    assert ours.get_list(key) == theirs.get_list(key)
    assert ours.get_list(key, split_commas=True) == theirs.get_list(key, split_commas=True)
    assert (key in ours) == (key in theirs)
    if key in theirs:
        assert ours[key] == theirs[key]
    else:
        with pytest.raises(KeyError):
            ours[key]
    assert ours.multi_items() == theirs.multi_items()
    assert dict(ours.items()) == dict(theirs.items()) and list(ours) == list(theirs) and len(ours) == len(theirs)


def test_answer_headers_share_recurring_lines_and_do_not_print_their_values() -> None:
    first, second = AnswerHeaders([("Cache-Control", "no-store")]), AnswerHeaders({"cache-control": "no-store"})
    assert first.multi_items()[0] is second.multi_items()[0]
    assert "a=1" not in repr(AnswerHeaders(LINES))


def _exchange(i: int) -> dict[str, Any]:
    return {"id": f"x{i}", "method": "POST", "url": f"https://sso.example/token?n={i}", "status": 400,
            "request_headers": [["host", "sso.example"]], "response_body": f"line one\nline two \u2028 {i} \udcff"[:40],
            "body_truncated": False, "elapsed_ms": 1.5, "error": None}


def test_the_exchange_store_gives_back_every_exchange_as_given_in_order_of_arrival() -> None:
    store = ExchangeStore(batch_chars=1_000)  # a batch every few exchanges
    given = [_exchange(i) for i in range(200)]
    for exchange in given:
        store.add(exchange)
    store.add({**given[3], "status": 500})  # a later copy of an id changes nothing
    assert len(store) == 200 and list(store) == [x["id"] for x in given]
    assert "x7" in store and "x200" not in store
    # each knows its place in the order of arrival, across sealed batches and the open one
    assert [store.order(f"x{i}") for i in range(200)] == list(range(200)) and store.order("x200") is None
    # read in any order: first to last, last to first, and scattered
    for order in (range(200), range(199, -1, -1), [i * 37 % 200 for i in range(200)]):
        assert [store[f"x{i}"] for i in order] == [given[i] for i in order]
    with pytest.raises(KeyError):
        store["x200"]


def test_a_batch_is_sealed_before_its_positions_outgrow_their_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_authcheck.results import exchanges

    monkeypatch.setattr(exchanges, "_POSITION_BITS", 2)  # four texts a batch at most, whatever their size
    store = ExchangeStore(batch_chars=10**9)
    given = [{"id": f"x{i}", "status": 200 + i} for i in range(11)]
    for exchange in given:
        store.add(exchange)
    assert len(store._batches._sealed) == 2  # 4 + 4 sealed, 3 open
    assert [store[f"x{i}"] for i in range(11)] == given
    assert [store.order(f"x{i}") for i in range(11)] == list(range(11))


def test_an_exchange_handed_over_to_the_store_keeps_only_its_handle() -> None:
    exchange = Exchange(id="x1", method="POST", url="https://sso.example/token", started="t",
                        request_headers=[("host", "sso.example")], request_body="grant_type=client_credentials",
                        status=401, response_headers=[("content-type", "application/json")],
                        response_body='{"error":"invalid_client"}', attempts=2, error=None)
    assert not exchange.handed_over
    whole = exchange.hand_over()
    assert exchange.handed_over  # a second check reading the same answer names it and hands nothing over
    assert whole["request_body"] == "grant_type=client_credentials" and whole["response_body"] == '{"error":"invalid_client"}'
    assert whole["request_headers"] == [("host", "sso.example")]
    assert (exchange.request_headers, exchange.request_body, exchange.response_headers, exchange.response_body) == \
        ((), None, (), None)
    assert (exchange.started, exchange.reason, exchange.http_version, exchange.elapsed_ms) == ("", None, None, None)
    assert (exchange.id, exchange.method, exchange.url, exchange.status, exchange.attempts) == \
        ("x1", "POST", "https://sso.example/token", 401, 2)


class _CountingMapping(Mapping[str, Any]):
    def __init__(self, values: dict[str, Any]) -> None:
        self.values, self.reads = values, 0

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


class _CountingSequence(Sequence[Any]):
    def __init__(self, values: list[Any]) -> None:
        self.values, self.reads = values, 0

    def __getitem__(self, index: Any) -> Any:
        got = self.values[index]
        self.reads += len(got) if isinstance(index, slice) else 1
        return got

    def __len__(self) -> int:
        return len(self.values)


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 1500])
def test_a_mapping_or_sequence_member_is_written_as_the_same_json_as_a_dict_or_list_reading_each_item_once(
        size: int) -> None:
    values = {f"x{i}": _exchange(i) for i in range(size)}
    lazy, rows = _CountingMapping(values), _CountingSequence(list(values.values()))
    written = io.StringIO()
    write_json(written, {"before": 1, "exchanges": lazy, "results": rows, "after": [2]})
    assert json.loads(written.getvalue()) == {"before": 1, "exchanges": json.loads(json.dumps(values)),
                                              "results": json.loads(json.dumps(list(values.values()))), "after": [2]}
    assert lazy.reads == size and rows.reads == size
