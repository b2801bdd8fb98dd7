"""Benchmarks of `ailoop validate` against targets, on a generated repository.

    python benchmarks/run.py [--priorities 10000] [--repeat 3] [--repo DIR]

Each figure is the wall time of the real CLI in a subprocess (the median of --repeat runs
where a run is cheap). Results are printed as a table with PASS/MISS per target and
written to benchmarks/out/results.json. Add a figure by appending a Measurement to
MEASUREMENTS (and, if it has a target, a Target to TARGETS).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from generate import STATUS_EVERY, Params, bot_key_path, ensure_repo  # noqa: E402

from pipeline.cache import cache_dir  # noqa: E402

CHANGED_FILES = 20
ARG_BYTES = 100_000  # keep each check-jsonschema command line well under ARG_MAX


@dataclass
class Bench:
    """What every measurement gets: the repo, the options, the figures measured so far."""

    repo: Path
    repeat: int
    priority_files: list[str]
    figures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    name: str
    what: str
    run: Callable[[Bench], float | None]  # seconds, or None when it could not be measured


@dataclass(frozen=True)
class Target:
    name: str
    describe: str
    value: Callable[[dict[str, float]], float | None]
    ok: Callable[[float], bool]
    unit: str = "s"


def ailoop_command() -> list[str]:
    exe = Path(sys.executable).parent / "ailoop"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline"]


def timed(argv: Sequence[str], cwd: Path | None = None,
          env: dict[str, str] | None = None) -> float:
    return timed_run(argv, cwd, env)[0]


def timed_run(argv: Sequence[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and standard output of one run (exit 0 or 1, else an error)."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **env} if env else None)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-500:]}")
    return elapsed, proc.stdout


def median_of(bench: Bench, argv: Sequence[str], before: Callable[[int], None] | None = None,
              env: dict[str, str] | None = None) -> float:
    times = []
    for i in range(bench.repeat):
        if before is not None:
            before(i)
        times.append(timed(argv, env=env))
    return statistics.median(times)


def validate_argv(bench: Bench, *extra: str) -> list[str]:
    return [*ailoop_command(), "-C", str(bench.repo), "validate", *extra]


def cold(bench: Bench, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(bench.repeat):
        shutil.rmtree(cache_dir(str(bench.repo)), ignore_errors=True)
        times.append(timed(validate_argv(bench), env=env))
    return statistics.median(times)


def cold_no_policies(bench: Bench) -> float:
    """The cold run on a clone of the repository without its policies/ folder (committed),
    to show what the policies add; the product has no switch to turn them off."""
    work = OUT / f"no-policies-{len(bench.priority_files)}"
    shutil.rmtree(work, ignore_errors=True)
    git(OUT, "clone", "-q", "--shared", str(bench.repo), str(work))
    git(work, "rm", "-q", "-r", "policies")
    git(work, "commit", "-q", "-m", "Without policies")
    return cold(Bench(work, bench.repeat, bench.priority_files))


def warm(bench: Bench) -> float:
    timed(validate_argv(bench))  # make sure the cache is filled
    return median_of(bench, validate_argv(bench))


def changed(bench: Bench) -> float:
    """Edit CHANGED_FILES priorities (new content each run, so nothing is cached) and
    validate only what changed since HEAD, as a developer does again and again."""
    files = bench.priority_files[:: max(1, len(bench.priority_files) // CHANGED_FILES)]
    files = files[:CHANGED_FILES]
    originals = {f: (bench.repo / f).read_text(encoding="utf-8") for f in files}

    def edit(i: int) -> None:
        for f, text in originals.items():
            (bench.repo / f).write_text(text.replace("count: ", f"count: {i + 1}", 1),
                                        encoding="utf-8")

    timed(validate_argv(bench))  # the rest of the repo is warm, as in a developer's clone
    try:
        return median_of(bench, validate_argv(bench, "--changed-since", "HEAD"), edit)
    finally:
        for f, text in originals.items():
            (bench.repo / f).write_text(text, encoding="utf-8")


def check_jsonschema(bench: Bench) -> float | None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    if not exe.exists():
        return None
    schema = ROOT / "schemas" / "priority.schema.json"
    total = 0.0
    batch: list[str] = []
    size = 0
    for f in [*bench.priority_files, None]:
        if f is not None and size + len(f) < ARG_BYTES:
            batch.append(f)
            size += len(f) + 1
            continue
        start = time.perf_counter()
        subprocess.run([str(exe), "--schemafile", str(schema), *batch], cwd=bench.repo,
                       capture_output=True, check=False)
        total += time.perf_counter() - start
        batch, size = ([f], len(f) + 1) if f is not None else ([], 0)
    return total


def reconcile(bench: Bench) -> float:
    """A no-op `ailoop reconcile` over the whole repo: in a clone (where every
    STATUS_EVERY-th priority has a status the bench bot signed), reconcile once to settle,
    then time the runs after it, each of which must print "No changes" and commit nothing."""
    work = OUT / f"reconcile-{len(bench.priority_files)}"
    shutil.rmtree(work, ignore_errors=True)
    git(OUT, "clone", "-q", "--shared", str(bench.repo), str(work))
    argv = [*ailoop_command(), "-C", str(work), "reconcile", "--now", "2026-02-01T00:00:00"]
    bot = {"AILOOP_BOT_SIGNING_KEY": bot_key_path(str(bench.repo))}
    timed(argv, env=bot)  # settles: may write and commit
    head = git(work, "rev-parse", "HEAD")
    times = []
    for _ in range(bench.repeat):
        elapsed, out = timed_run(argv, env=bot)
        if "No changes" not in out or git(work, "rev-parse", "HEAD") != head:
            raise RuntimeError(f"the second reconcile was not a no-op: {out.strip()[-300:]}")
        times.append(elapsed)
    return statistics.median(times)


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.test",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.test"}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout


def help_text(bench: Bench) -> float:
    return statistics.median(timed([*ailoop_command(), "--help"]) for _ in range(5))


MEASUREMENTS: list[Measurement] = [
    Measurement("cold", "ailoop validate, cache cleared", cold),
    Measurement("cold_no_policies", "ailoop validate, cache cleared, no policies/",
                cold_no_policies),
    Measurement("warm", "ailoop validate, second run", warm),
    Measurement("changed", f"ailoop validate --changed-since HEAD, {CHANGED_FILES} edited",
                changed),
    Measurement("check_jsonschema", "check-jsonschema, priority schema only", check_jsonschema),
    Measurement("help", "ailoop --help", help_text),
    Measurement("reconcile", f"ailoop reconcile, no-op (1 in {STATUS_EVERY} with status)",
                reconcile),
]


def _policy_cost(f: dict[str, float]) -> float | None:
    """What the policies add to a cold run, in percent."""
    if not f.get("cold") or not f.get("cold_no_policies"):
        return None
    return (f["cold"] / f["cold_no_policies"] - 1) * 100


def _ratio(f: dict[str, float]) -> float | None:
    if "check_jsonschema" not in f or not f.get("cold"):
        return None
    return f["check_jsonschema"] / f["cold"]


TARGETS: list[Target] = [
    Target("speedup", "check-jsonschema / ailoop cold >= 8", _ratio, lambda v: v >= 8, "x"),
    Target("warm", "warm <= 0.5 s", lambda f: f.get("warm"), lambda v: v <= 0.5),
    Target("changed", f"{CHANGED_FILES} changed < 0.3 s", lambda f: f.get("changed"),
           lambda v: v < 0.3),
    Target("help", "ailoop --help < 120 ms", lambda f: f.get("help"), lambda v: v < 0.120),
    Target("policies", "policies add <= 50% to cold", _policy_cost, lambda v: v <= 50, "%"),
    Target("reconcile", "no-op reconcile < 2 s", lambda f: f.get("reconcile"),
           lambda v: v < 2.0),
]


def measure(bench: Bench, only: set[str] | None) -> None:
    for m in MEASUREMENTS:
        if only and m.name not in only:
            continue
        print(f"  measuring {m.name}: {m.what} ...", file=sys.stderr, flush=True)
        value = m.run(bench)
        if value is not None:
            bench.figures[m.name] = value


def report(bench: Bench, params: Params) -> dict[str, object]:
    print(f"\nailoop validate benchmark: {params.priorities} priorities, "
          f"{params.customers} customers, {os.cpu_count()} cores\n")
    print(f"{'measurement':<52} {'seconds':>9}")
    for m in MEASUREMENTS:
        if m.name in bench.figures:
            print(f"{m.what:<52} {bench.figures[m.name]:>9.3f}")
    print(f"\n{'target':<52} {'value':>9}  result")
    verdicts = {}
    for t in TARGETS:
        value = t.value(bench.figures)
        if value is None:
            print(f"{t.describe:<52} {'-':>9}  not measured")
            continue
        verdicts[t.name] = {"value": value, "pass": t.ok(value)}
        shown = {"x": f"{value:.1f}x", "%": f"{value:.0f}%"}.get(t.unit, f"{value:.3f}")
        print(f"{t.describe:<52} {shown:>9}  {'PASS' if t.ok(value) else 'MISS'}")
    return {"priorities": params.priorities, "customers": params.customers,
            "cores": os.cpu_count(), "figures": bench.figures, "targets": verdicts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priorities", type=int, default=Params.priorities)
    parser.add_argument("--repeat", type=int, default=3, help="runs per cheap measurement")
    parser.add_argument("--repo", type=Path, help="where to generate (default benchmarks/out/)")
    parser.add_argument("--only", action="append", choices=[m.name for m in MEASUREMENTS],
                        help="run only this measurement (repeatable)")
    args = parser.parse_args(argv)
    params = Params(args.priorities, min(Params.customers, args.priorities))
    repo = args.repo or OUT / f"repo-{params.priorities}"
    print(f"  preparing {repo} ...", file=sys.stderr, flush=True)
    ensure_repo(str(repo), params)
    files = sorted(str(p.relative_to(repo)) for p in repo.glob("customers/*/*/priority.yaml"))
    bench = Bench(repo, max(1, args.repeat), files)
    # An installed package comes with its bytecode (pip compiles it). An editable install
    # under PYTHONDONTWRITEBYTECODE would compile every module on every run instead:
    # about 60 ms of a small run that no user pays.
    compileall.compile_dir(str(ROOT / "pipeline"), quiet=1)
    measure(bench, set(args.only or ()))
    results = report(bench, params)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
