"""The drain rate behind Retry-After and the step pace behind ETAs."""

from __future__ import annotations

import random

from backend.estimates import DrainEstimate, StepClock


def test_drain_estimate_is_not_skewed_by_one_long_job() -> None:
    drain = DrainEstimate(jitter=0)
    assert drain.retry_after(3) == 3  # no history: a one-second guess per job
    for seconds in (30.0, 0.5, 0.5, 0.5, 0.5):
        drain.observe(seconds)
    assert drain.per_job == 0.5
    assert drain.retry_after(5) == 3  # ceil(5 x 0.5): the long job is one of five
    assert drain.retry_after(0) == 1


def test_refusals_in_one_burst_are_spread_over_the_jitter() -> None:
    drain = DrainEstimate(rng=random.Random(7))
    for _ in range(3):
        drain.observe(2.0)
    waits = [drain.retry_after(10) for _ in range(200)]  # 20 s to drain, up to 30 s
    assert min(waits) >= 20
    assert max(waits) <= 30
    assert len(set(waits)) >= 8  # not one second for everybody
    assert drain.retry_after(0) == 1


def test_step_clock_is_unknown_until_a_step_then_follows_the_recent_steps() -> None:
    clock = StepClock(window=4)
    assert clock.eta(10) is None
    clock.observe(2.0)  # a slow first step (text encoding, kernels chosen)
    for _ in range(3):
        clock.observe(0.1)
    assert clock.eta(10) == 1.0  # the median: the slow step does not count much
    for _ in range(4):
        clock.observe(0.2)  # only the last four steps
    assert clock.eta(5) == 1.0
    assert clock.eta(0) == 0.0
