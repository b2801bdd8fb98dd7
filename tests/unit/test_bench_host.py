"""The benchmark says when the shared host's speed changed during a run, on one core or on
all of them, and which figures were measured while it was slow (benchmarks/run.py, Host)."""

from __future__ import annotations

from benchmarks.run import Host


def test_a_steady_run_says_so_and_marks_nothing() -> None:
    host = Host({"ci": (0.200, 0.210), "cold": (0.206, 0.212), "warm": (0.196, 0.205),
                 "end": (0.202, 0.209)})
    assert host.steady
    assert host.describe().startswith("steady (spread 5%): ci 0.200/0.210, cold")
    assert not any(host.slow_during(name) for name in ("ci", "cold", "warm"))


def test_a_slowdown_marks_the_figures_measured_next_to_it() -> None:
    # The host slowed after warm (a run on 2026-12-06 read 0.206 s before and 0.333 s
    # after, and the figures it measured last missed their targets).
    host = Host({"ci": (0.206, 0.21), "cold": (0.210, 0.21), "warm": (0.204, 0.21),
                 "changed": (0.333, 0.34), "help": (0.300, 0.31), "end": (0.208, 0.21)})
    assert not host.steady
    assert "NOT STEADY (spread 63%" in host.describe()
    assert [n for n in ("ci", "cold", "warm", "changed", "help") if host.slow_during(n)] \
        == ["warm", "changed", "help"]


def test_a_host_that_slows_only_the_second_core_is_not_steady() -> None:
    # One core at full speed, both at once much slower: a parallel cold run suffers, the
    # one-core gauge alone would not show it.
    host = Host({"cold": (0.200, 0.300), "warm": (0.201, 0.210), "end": (0.199, 0.205)})
    assert not host.steady
    assert host.slow_during("cold")
    assert not host.slow_during("warm")


def test_a_measurement_not_run_is_not_marked() -> None:
    host = Host({"cold": (0.2, 0.2), "end": (0.4, 0.2)})
    assert host.slow_during("cold")
    assert not host.slow_during("reconcile")
