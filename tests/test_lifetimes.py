"""The lifetime arithmetic of lifetimes.access-token and lifetimes.id-token, at a frozen clock."""

from __future__ import annotations

from freezegun import freeze_time

from pytest_authcheck._expect import matches, shown
from pytest_authcheck._lifetimes import assess_access_token, assess_id_token

NOW = 1_800_000_000


@freeze_time("2027-01-15 08:00:00")
def test_one_hour_token_that_says_one_hour_passes():
    import time
    now = time.time()
    report = assess_access_token(expires_in=3600, claims={"iat": now, "exp": now + 3600}, received_at=now,
                                 max_seconds=3600)
    assert report.problems == [] and matches(report.expected, report.observed)
    assert shown(report.observed) == {"expires_in": "3600s (1h)", "exp - iat": "3600s (1h)",
                                      "exp - iat against expires_in": "agree",
                                      "iat/nbf": "not more than 1m ahead of this machine's clock"}


@freeze_time("2027-01-15 08:00:00")
def test_says_one_hour_but_lives_eight_fails():
    import time
    now = time.time()
    report = assess_access_token(expires_in=3600, claims={"iat": now, "exp": now + 8 * 3600}, received_at=now,
                                 max_seconds=3600)
    assert report.problems == ["the JWT lives 28800s (8h) (exp - iat) but expires_in says 3600s (1h)",
                               "the JWT lives 28800s (8h) (exp - iat), more than the policy's 1h"]
    assert not matches(report.expected, report.observed)


def test_disagreement_within_the_skew_passes():
    report = assess_access_token(expires_in=3600, claims={"iat": NOW, "exp": NOW + 3630}, received_at=NOW,
                                 max_seconds=3600, skew=60)
    assert report.problems == []


def test_expires_in_over_the_bound_and_under_the_minimum():
    assert assess_access_token(expires_in=2_505_600, claims=None, received_at=NOW, max_seconds=3600).problems == \
        ["expires_in 2505600s (29d) exceeds the policy's 1h"]
    assert assess_access_token(expires_in=30, claims=None, received_at=NOW, max_seconds=3600,
                               min_seconds=300).problems == ["expires_in 30s is below the policy's minimum 5m"]


def test_malformed_expires_in_is_a_problem_not_a_crash():
    for value in ("3600", -5, 0, 1.5, True, [1]):
        problems = assess_access_token(expires_in=value, claims=None, received_at=NOW, max_seconds=3600).problems
        assert problems and "is not a positive whole number of seconds" in problems[0], value


def test_future_iat_and_nbf_beyond_the_skew():
    claims = {"iat": NOW + 600, "nbf": NOW + 30, "exp": NOW + 1200}
    problems = assess_access_token(expires_in=600, claims=claims, received_at=NOW, max_seconds=3600, skew=60).problems
    assert problems == ["iat is 600s in the future (max_clock_skew 1m)"]


def test_a_token_judged_long_after_it_arrived_is_judged_as_it_arrived():
    """In a long run a cached token may have expired by the time a check reads it: that is not a finding."""
    import time

    arrived = time.time() - 600  # fetched ten minutes ago, lived five minutes
    report = assess_access_token(expires_in=300, claims={"iat": arrived, "exp": arrived + 300}, received_at=arrived,
                                 max_seconds=3600)
    assert report.problems == [] and matches(report.expected, report.observed)
    assert shown(report.observed)["exp - iat"] == "300s (5m)"


def test_expired_and_unknown_lifetimes():
    assert "exp was already 100s in the past when the token arrived (max_clock_skew 1m)" in assess_access_token(
        expires_in=600, claims={"iat": NOW - 700, "exp": NOW - 100}, received_at=NOW, max_seconds=3600).problems
    assert assess_access_token(expires_in=None, claims=None, received_at=NOW, max_seconds=3600).problems == \
        ["the response has no expires_in and the token no exp/iat: its lifetime is unknown"]


@freeze_time("2027-01-15 08:00:00")
def test_id_token_bounds():
    import time
    now = time.time()
    assert assess_id_token({"iat": now, "exp": now + 3600}, received_at=now, max_seconds=3600).problems == []
    assert assess_id_token({"iat": now, "exp": now + 7200}, received_at=now, max_seconds=3600).problems == \
        ["the ID token lives 7200s (2h), more than the policy's 1h"]
    assert assess_id_token({"exp": now}, received_at=now, max_seconds=None).problems == \
        ["the ID token lacks iat or exp (OIDC Core §2)"]
