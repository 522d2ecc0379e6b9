"""The planned probes of a run's collected tests, by position: their jobs, and every test counted as a reader.

Made by the tests' process after collection, and by the prober from the (check, client) pairs it is told
(``probes.prober``): both plan the same jobs under the same signatures.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

from .._clients import PolicyClient
from .prefetch import Job, plan_jobs
from .readers import Readers
from .token_state import introspect_held

if TYPE_CHECKING:
    from .._run import AuthcheckRun

# how many tests' jobs are made at once to count their readers (then let go)
COUNTING_CHUNK = 1_000


class RunPlan:
    """``jobs(positions)``: the jobs of the tests at ``positions``, by provider; ``readers``: the ledger counting
    every test as a reader of what it plans (``count``), ``planned``: each test's signatures until it has run."""

    def __init__(self, run: AuthcheckRun, pairs: list[tuple[str, PolicyClient] | None],
                 readers: Readers | None = None) -> None:
        self._run = run
        self.pairs = pairs
        self.readers = readers if readers is not None else Readers()
        # by the test's position: the signatures of the probes its plan names (it is one of their readers until it
        # has run); in the items' stashes each took a table of its own
        self.planned: list[tuple[Hashable, ...] | None] = [None] * len(pairs)

    def count(self) -> None:
        """Count every test as a reader of what it plans, over the whole collection: a worker, which runs only the
        tests it is given (each target's on one worker, as a rule), lets an answer go only when all have run there.
        The jobs made to count them go with each chunk, and are made again when sent."""
        for start in range(0, len(self.pairs), COUNTING_CHUNK):
            self._plan(range(start, min(start + COUNTING_CHUNK, len(self.pairs))), counting=True)

    def jobs(self, positions: Iterable[int]) -> dict[str, list[Job]]:
        """The jobs of the tests at ``positions``, in order, by provider name."""
        return self._plan(positions, counting=False)

    def _plan(self, positions: Iterable[int], *, counting: bool) -> dict[str, list[Job]]:
        run = self._run
        chosen = [(i, pair) for i in positions if (pair := self.pairs[i]) is not None]

        def planned(position: int, signatures: tuple[Hashable, ...]) -> None:
            if signatures:
                self.readers.expect(signatures)
                self.planned[chosen[position][0]] = signatures

        return plan_jobs([pair for _, pair in chosen], tokens=run.token_probes, authz=run.authz_probes,
                         providers=run.oidc_providers, introspect_held=self._held, planned=planned if counting else None)

    def _held(self, client: PolicyClient, endpoint: str) -> object:
        run = self._run
        token = run.tokens.client_credentials(client.name)
        return introspect_held(run.http, run.memo, client, endpoint, token.access_token)
