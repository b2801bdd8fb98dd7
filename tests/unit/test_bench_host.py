"""The benchmark says when the shared host's speed changed during a run, and which
figures were measured while it was slow (benchmarks/run.py, Host)."""

from __future__ import annotations

from benchmarks.run import Host


def test_a_steady_run_says_so_and_marks_nothing() -> None:
    host = Host({"ci": 0.200, "cold": 0.206, "warm": 0.196, "end": 0.202})
    assert host.steady
    assert host.describe().startswith("steady (spread 5%)")
    assert not any(host.slow_during(name) for name in ("ci", "cold", "warm"))


def test_a_slowdown_marks_the_figures_measured_next_to_it() -> None:
    # The host slowed after warm (a run on 2026-12-06 read 0.206 s before and 0.333 s
    # after, and the figures it measured last missed their targets).
    host = Host({"ci": 0.206, "cold": 0.210, "warm": 0.204, "changed": 0.333,
                 "help": 0.300, "end": 0.208})
    assert not host.steady
    assert "NOT STEADY (spread 63%" in host.describe()
    assert [n for n in ("ci", "cold", "warm", "changed", "help") if host.slow_during(n)] \
        == ["warm", "changed", "help"]


def test_a_measurement_not_run_is_not_marked() -> None:
    host = Host({"cold": 0.2, "end": 0.4})
    assert host.slow_during("cold")
    assert not host.slow_during("reconcile")
