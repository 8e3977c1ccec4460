"""gallery.serving's restart policy and words, with the clock given.

The master itself is drilled in tests/faults/test_worker_crash.py (a worker
killed with SIGKILL under load, a crash loop, SIGHUP).
"""

from __future__ import annotations

import signal

from gallery.serving import RestartPolicy, describe_exit


def test_a_few_deaths_at_once_are_replaced_at_once() -> None:
    policy = RestartPolicy(workers=2)
    policy.record_restart(0.0)
    policy.record_death(100.0)
    policy.record_death(100.1)
    assert policy.delay_before_restart(100.1) == 0.0


def test_a_crash_loop_backs_off_doubling_up_to_the_cap_and_recovers() -> None:
    policy = RestartPolicy(
        workers=2, window_seconds=10, first_delay_seconds=0.5, max_delay_seconds=4
    )
    now, delays = 0.0, []
    for _ in range(6):  # two workers start and die at once, round after round
        policy.record_restart(now)
        now += 0.2
        policy.record_death(now)
        policy.record_death(now)
        delay = policy.delay_before_restart(now)
        delays.append(delay)
        now += delay
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    # Even a wait longer than the window is not a quiet period: still backing off.
    policy.record_restart(now)
    policy.record_death(now + 0.2)
    assert policy.delay_before_restart(now + 0.2) == 4.0
    # Workers that lived a whole window end the back-off.
    policy.record_restart(now + 5)
    policy.record_death(now + 16)
    assert policy.delay_before_restart(now + 16) == 0.0


def test_exits_are_described_in_words() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(0) == "exit status 0"
