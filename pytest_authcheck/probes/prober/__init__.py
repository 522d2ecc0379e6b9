"""A serial run's planned probes sent from a process of their own, while this one runs the tests (the default where a
fork is safe; ``--authcheck-no-probe-process`` keeps one process).

In one process the probes and the tests take turns at the one interpreter lock (``prefetch.sent_in_turns``): at a
thousand clients on two cores, some 13 s of sending, then some 12 s of testing. The prober is forked before
collection, while this process is small, and told the collected tests after it (``Instructions``: each test's
(check, client) pair and each client's state, nonce and PKCE challenge). It plans the same jobs
(``run_plan.RunPlan``, the same ``Prefetcher``), a stretch of tests at a time a few stretches ahead (and at most
``sending.LEAD`` tests ahead of the tests, which say where they are every ``receiving.AT_EVERY`` tests), and hands
back, in order, what this process would have learnt sending them:

- the secrets it learnt (tokens and codes received, basic credentials sent), for this process's redactor, and where
  each token came from, for its confinement, before any answer that holds them;
- every answer its jobs made or read (``Once.get``), with each job that reads it, put into the same cache here
  (``Once.put``) and noted for the same readers (``probes.readers``); a job planned again under a signature a job has
  settled is not run again (``Job.settles``): this process holds those answers until their readers have all run;
- how far it has come: a test starts once the prober has handed back every job of the tests up to it (``wait_for``),
  and reads its answers as if it had sent them itself. A probe the plans do not name is sent here, as before, and
  its answer told to the prober (``Once.on_made``), which would otherwise send it again.

The prober counts no readers: it keeps an answer until this process says the signatures holding it have all been
read (``Readers.on_released``). Documents both processes read (discovery, JWKS) are fetched once, through the run's
shared folder, as between xdist workers. The prober writes nowhere but its pipe (and pytest's log file or live log,
when they take debug records, redacted as this process's are) and leaves with ``os._exit``: pytest's hooks, reports and
exit handlers stay this process's. If it dies, the tests stop waiting for it and send what they
read themselves; the terminal says so.
"""
from .fork import Instructions, start, unsafe
from .receiving import Prober

__all__ = ["Instructions", "Prober", "start", "unsafe"]
