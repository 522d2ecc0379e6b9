"""The order a run's tests go in: every client's checks in blocks of clients, the checks that spend grants last.

A probe answer several checks read (a client's token, its ordinary authorization request) is kept until the last
test reading it has run (``probes.readers``). Collected as pytest makes them, the tests go check by check over every
client: each client's shared answers then wait from its first check to its last, the whole run, at ten thousand
clients some 46,000 answers at once (in the prober too, which keeps them as long). Run a block of clients at a time,
check by check within it as before, an answer waits for one block's tests: there, with the prober kept within 1,500
tests of them (``probes.prober.sending.LEAD``), the pair of processes peaked at 919 MiB of PSS instead of 1,160.
Within a block the order is pytest's, so a check that reads another client's answer (the introspection control, a
provider's check taking a token of its first clients) finds it made by the checks before it, as it did before: put
first, a provider's checks asked for a token the prober was sending at that moment, and it went twice.
"""

from __future__ import annotations

import pytest

from ._checks import check_of

# Clients whose tests run together: enough that each check's tests stay in a run of their own (few switches
# between suite modules), few enough that their answers are a small part of the run's memory
CLIENTS_TOGETHER = 100


def order(items: list[pytest.Item]) -> None:
    """Sort ``items`` in place: each block of clients (in the order of their first test), the tests of no client with
    the first, the checks that revoke or replay their tokens last; otherwise as collected (a stable order, the same on
    every xdist worker)."""
    blocks: dict[str, int] = {}

    def block(item: pytest.Item) -> int:
        client = getattr(getattr(item, "callspec", None), "params", {}).get("oidc_client")
        if not isinstance(client, str):
            return 0  # with the first block, where pytest put it: some read the first clients' answers
        return blocks.setdefault(client, len(blocks)) // CLIENTS_TOGETHER

    # keys are made in the items' order, so blocks are numbered by each client's first test
    items.sort(key=lambda item: (bool(getattr(check_of(item), "spends_grant", False)), block(item)))
