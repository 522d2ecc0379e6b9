"""Results: a finished test becomes a result (``build``: status, evidence, the result model's invariants), waivers
apply to it (``waivers``), and the run's results are judged together (``outcome``: the gate, one finding per cause
in ``causes``, the baseline comparison in ``baseline``, the threat roll-up in ``threats``, coverage of RFC 9700, ASVS
and FAPI 2.0 requirements in ``frameworks``), for the reports to write."""
