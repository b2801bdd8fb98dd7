"""Benchmarks of `ailoop validate` against targets, on a generated repository.

    python benchmarks/run.py [--priorities 10000] [--repeat 3] [--pairs 7] [--repo DIR]

Each figure is the wall time of the real CLI in a subprocess (the median of --repeat runs
where a run is cheap). A comparison with check-jsonschema runs the two in turn, A B A B,
and takes the median of the ratios pair by pair, so it holds when the shared machine's
speed drifts. Results are printed as a table with PASS/MISS per target and written to
benchmarks/out/results.json. Add a figure by appending a Measurement to MEASUREMENTS (and,
if it has a target, a Target to TARGETS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
CI_BRANCH = "pull-request"  # the CI path's branch: CHANGED_FILES priorities edited
# What GitHub's runners set; validate's CI-only checks run as they do there.
CI_ENV = {"CI": "true", "GITHUB_ACTIONS": "true"}
ARG_BYTES = 100_000  # keep each check-jsonschema command line well under ARG_MAX
# Seconds of idle before each timed run of the cold comparisons. On this project's VM a run
# that follows a minute of full CPU (check-jsonschema over every file) was up to 15 %
# slower than the same run after a pause (the host throttles a busy guest); both tools
# get the pause, as a user's run on an idle machine would.
COOL_DOWN = 10.0


Reading = tuple[float, float]  # the host gauge on one core, and on every core at once


@dataclass
class Bench:
    """What every measurement gets: the repo, the options, the figures measured so far."""

    repo: Path
    repeat: int
    priority_files: list[str]
    pairs: int = 7  # A B pairs of a cheap comparison
    figures: dict[str, float] = field(default_factory=dict)
    # The host gauge before each measurement, in order, and "end" after the last one.
    gauges: dict[str, Reading] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    name: str
    what: str
    # Seconds, or named figures (a comparison gives several), or None: not measured.
    run: Callable[[Bench], float | dict[str, float] | None]


@dataclass(frozen=True)
class Target:
    name: str
    describe: str
    value: Callable[[dict[str, float]], float | None]
    ok: Callable[[float], bool]
    unit: str = "s"
    measured_by: str = ""  # the Measurement it comes from (default: the same name)


INSTALLED = OUT / "venv-ailoop"  # ailoop as the GitHub Action installs it


def ailoop_command() -> list[str]:
    return [str(INSTALLED / "bin" / "ailoop")]


def install_ailoop() -> None:
    """Install this checkout into a venv of its own the way the GitHub Action does
    (`pip install PATH`: a regular install, compiled, with only the runtime dependencies),
    so every figure is the CLI users run, not the editable development install. Reinstalled
    on every call: the figures are always of the code as it is now."""
    if not (INSTALLED / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(INSTALLED)], check=True)
    subprocess.run([str(INSTALLED / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "--force-reinstall", "--no-deps",
                    str(ROOT)], check=True, capture_output=True)
    subprocess.run([str(INSTALLED / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(ROOT)], check=True,
                   capture_output=True)


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
        times.append(cold_once(bench, env))
    return statistics.median(times)


def cold_once(bench: Bench, env: dict[str, str] | None = None, rest: float = 0.0) -> float:
    shutil.rmtree(cache_dir(str(bench.repo)), ignore_errors=True)
    time.sleep(rest)
    return timed(validate_argv(bench), env=env)


def cold_vs_check_jsonschema(bench: Bench) -> dict[str, float]:
    """Cold full runs and check-jsonschema over every priority file, in turn (--repeat
    pairs): the speedup is the median of check-jsonschema / cold pair by pair."""
    if check_jsonschema_exe() is None:
        return {"cold": cold(bench)}
    colds, others = [], []
    for _ in range(bench.repeat):
        colds.append(cold_once(bench, rest=COOL_DOWN))
        time.sleep(COOL_DOWN)
        others.append(check_jsonschema_files(bench.repo, bench.priority_files))
    return {"cold": statistics.median(colds), "check_jsonschema": statistics.median(others),
            "speedup": statistics.median(o / c for o, c in zip(others, colds, strict=True))}


def cold_no_policies(bench: Bench) -> dict[str, float]:
    """The cold run on a clone of the repository without its policies/ folder (committed),
    to show what the policies add (the product has no switch to turn them off): in turn
    with the cold run of the whole repository, so the ratio of each pair holds when the
    machine's speed drifts."""
    work = OUT / f"no-policies-{len(bench.priority_files)}"
    shutil.rmtree(work, ignore_errors=True)
    git(OUT, "clone", "-q", "--shared", str(bench.repo), str(work))
    git(work, "rm", "-q", "-r", "policies")
    git(work, "commit", "-q", "-m", "Without policies")
    without = Bench(work, bench.repeat, bench.priority_files)
    withs, withouts = [], []
    for _ in range(bench.repeat):
        withs.append(cold_once(bench, rest=COOL_DOWN))
        withouts.append(cold_once(without, rest=COOL_DOWN))
    return {"cold_no_policies": statistics.median(withouts),
            "policies_ratio": statistics.median(w / o for w, o in
                                                zip(withs, withouts, strict=True))}


def warm(bench: Bench) -> float:
    timed(validate_argv(bench))  # make sure the cache is filled
    return median_of(bench, validate_argv(bench))


def changed(bench: Bench) -> float:
    """Edit CHANGED_FILES priorities (new content each run, so nothing is cached) and
    validate only what changed since HEAD, as a developer does again and again."""
    files = changed_sample(bench.priority_files)
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


def check_jsonschema_exe() -> Path | None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    return exe if exe.exists() else None


def check_jsonschema_argv(files: Sequence[str]) -> list[str]:
    """check-jsonschema with the priority schema ailoop exports, on `files`."""
    exe = check_jsonschema_exe()
    assert exe is not None
    return [str(exe), "--schemafile", str(ROOT / "schemas" / "priority.schema.json"), *files]


def check_jsonschema_files(repo: Path, files: Sequence[str]) -> float:
    """check-jsonschema over `files` in batched command lines, the times summed."""
    total = 0.0
    batch: list[str] = []
    size = 0
    for f in [*files, None]:
        if f is not None and size + len(f) < ARG_BYTES:
            batch.append(f)
            size += len(f) + 1
            continue
        start = time.perf_counter()
        subprocess.run(check_jsonschema_argv(batch), cwd=repo, capture_output=True,
                       check=False)
        total += time.perf_counter() - start
        batch, size = ([f], len(f) + 1) if f is not None else ([], 0)
    return total


def changed_sample(files: list[str]) -> list[str]:
    """CHANGED_FILES priority files spread over the repository."""
    return files[:: max(1, len(files) // CHANGED_FILES)][:CHANGED_FILES]


def ci_source(bench: Bench) -> tuple[Path, list[str]]:
    """A clone of the repository with a branch CI_BRANCH on top of main whose one commit
    edits CHANGED_FILES priority files: what a pull request brings to CI."""
    source = OUT / f"ci-source-{len(bench.priority_files)}"
    shutil.rmtree(source, ignore_errors=True)
    git(OUT, "clone", "-q", str(bench.repo), str(source))
    git(source, "checkout", "-q", "-b", CI_BRANCH)
    files = changed_sample(bench.priority_files)
    for f in files:
        path = source / f
        path.write_text(path.read_text(encoding="utf-8").replace("count: ", "count: 1", 1),
                        encoding="utf-8")
    git(source, "commit", "-q", "-a", "-m", f"Edit {len(files)} priorities")
    return source, files


def ci_path(bench: Bench) -> dict[str, float] | None:
    """What every pull request pays: in a fresh clone (no cache), with CI's environment,
    `validate --changed-since origin/main --format github` as the PR workflow runs it, and
    check-jsonschema on the same changed files, in turn (--pairs pairs). Before each run
    the cache folder the last one wrote is removed: validate changes nothing else (git's
    index included), so the clone is as fresh as after `git clone`, without checking out
    its files again for every pair."""
    if check_jsonschema_exe() is None:
        return None
    source, files = ci_source(bench)
    work = OUT / f"ci-clone-{len(bench.priority_files)}"
    shutil.rmtree(work, ignore_errors=True)
    git(OUT, "clone", "-q", "--branch", CI_BRANCH, str(source), str(work))
    ailoop = [*ailoop_command(), "-C", str(work), "validate", "--changed-since", "origin/main",
              "--format", "github"]
    ours, theirs = [], []
    for _ in range(bench.pairs):
        shutil.rmtree(cache_dir(str(work)), ignore_errors=True)
        elapsed, out = timed_run(ailoop, env=CI_ENV)
        checked = re.search(r"\b(\d+) files (checked|valid)", out)
        # The changed priorities, and the status files in their folders.
        if checked is None or not len(files) <= int(checked[1]) <= 2 * len(files):
            raise RuntimeError(f"the CI path did not check the {len(files)} changed files: "
                               f"{out.strip()[-300:]}")
        ours.append(elapsed)
        theirs.append(timed(check_jsonschema_argv(files), cwd=work))
    return {"ci": statistics.median(ours), "ci_check_jsonschema": statistics.median(theirs),
            "ci_ratio": statistics.median(o / t for o, t in zip(ours, theirs, strict=True))}


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


# A fixed amount of pure-Python work in a fresh interpreter: nothing of ailoop, the repo
# or the disk, so it tells a slow host from a slow ailoop. Measured before each measurement.
GAUGE = "sum(i * i for i in range(3_000_000))"


def host_gauge() -> Reading:
    """The gauge on one core, and on every core at once (one copy per core, the time the
    last one ends): a host can give one core its full speed and the others less, which
    slows what runs in parallel (a cold run) and not what runs on one core."""
    one = statistics.median(timed([sys.executable, "-c", GAUGE]) for _ in range(5))
    return one, statistics.median(_all_cores() for _ in range(3))


def _all_cores() -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", GAUGE])
             for _ in range(os.cpu_count() or 1)]
    codes = [proc.wait() for proc in procs]  # every copy waited for before any is judged
    if any(codes):
        raise RuntimeError("the host gauge failed to run")
    return time.perf_counter() - start


def help_text(bench: Bench) -> float:
    return statistics.median(timed([*ailoop_command(), "--help"]) for _ in range(5))


MEASUREMENTS: list[Measurement] = [
    Measurement("ci", f"CI path: fresh clone, --changed-since, {CHANGED_FILES} changed",
                ci_path),
    Measurement("cold", "ailoop validate, cache cleared", cold_vs_check_jsonschema),
    Measurement("cold_no_policies", "ailoop validate, cache cleared, no policies/",
                cold_no_policies),
    Measurement("warm", "ailoop validate, second run", warm),
    Measurement("changed", f"ailoop validate --changed-since HEAD, {CHANGED_FILES} edited",
                changed),
    Measurement("help", "ailoop --help", help_text),
    Measurement("reconcile", f"ailoop reconcile, no-op (1 in {STATUS_EVERY} with status)",
                reconcile),
]

# Figures a measurement gives besides its own, with what they are.
EXTRA_FIGURES = {
    "ci": [("ci_check_jsonschema", f"check-jsonschema, the same {CHANGED_FILES} files")],
    "cold": [("check_jsonschema", "check-jsonschema, every priority file")],
}


def _policy_cost(f: dict[str, float]) -> float | None:
    """What the policies add to a cold run, in percent (pair by pair)."""
    ratio = f.get("policies_ratio")
    return None if ratio is None else (ratio - 1) * 100


TARGETS: list[Target] = [
    Target("ci", f"CI path / check-jsonschema ({CHANGED_FILES} files) <= 1.0",
           lambda f: f.get("ci_ratio"), lambda v: v <= 1.0, "ratio"),
    Target("speedup", "check-jsonschema / ailoop cold >= 10", lambda f: f.get("speedup"),
           lambda v: v >= 10, "x", "cold"),
    Target("warm", "warm <= 0.35 s", lambda f: f.get("warm"), lambda v: v <= 0.35),
    Target("changed", f"{CHANGED_FILES} changed <= 0.3 s", lambda f: f.get("changed"),
           lambda v: v <= 0.3),
    Target("help", "ailoop --help < 60 ms", lambda f: f.get("help"), lambda v: v < 0.060),
    Target("policies", "policies add <= 50% to cold", _policy_cost, lambda v: v <= 50, "%",
           "cold_no_policies"),
    Target("reconcile", "no-op reconcile < 2 s", lambda f: f.get("reconcile"),
           lambda v: v < 2.0),
]


def measure(bench: Bench, only: set[str] | None) -> None:
    for m in MEASUREMENTS:
        if only and m.name not in only:
            continue
        bench.gauges[m.name] = host_gauge()
        print(f"  measuring {m.name}: {m.what} ...", file=sys.stderr, flush=True)
        value = m.run(bench)
        if isinstance(value, dict):
            bench.figures.update(value)
        elif value is not None:
            bench.figures[m.name] = value
    bench.gauges["end"] = host_gauge()


# A run whose gauges spread more than this was taken on a host whose speed changed.
STEADY_SPREAD = 0.15


@dataclass(frozen=True)
class Host:
    """How steady the host was: the gauges around each measurement against the fastest,
    on one core and on every core."""

    gauges: dict[str, Reading]

    def _fastest(self) -> Reading:
        return (min(g[0] for g in self.gauges.values()),
                min(g[1] for g in self.gauges.values()))

    @property
    def spread(self) -> float:
        if not self.gauges:
            return 0.0
        fastest = self._fastest()
        return max(max(g[0] / fastest[0], g[1] / fastest[1]) for g in self.gauges.values()) - 1

    @property
    def steady(self) -> bool:
        return self.spread <= STEADY_SPREAD

    def slow_during(self, measurement: str) -> bool:
        """The host read slow, on one core or on all, just before or after the measurement."""
        names = list(self.gauges)
        if measurement not in self.gauges:
            return False
        after = names[names.index(measurement) + 1]
        fastest = self._fastest()
        return any(g[i] / fastest[i] - 1 > STEADY_SPREAD
                   for g in (self.gauges[measurement], self.gauges[after]) for i in (0, 1))

    def describe(self) -> str:
        readings = ", ".join(f"{n} {g[0]:.3f}/{g[1]:.3f}" for n, g in self.gauges.items())
        if self.steady:
            return f"steady (spread {self.spread:.0%}): {readings}"
        return (f"NOT STEADY (spread {self.spread:.0%}; the host's speed changed during the "
                f"run, figures marked 'host slow' are not comparable): {readings}")


def report(bench: Bench, params: Params) -> dict[str, object]:
    host = Host(bench.gauges)
    print(f"\nailoop validate benchmark: {params.priorities} priorities, "
          f"{params.customers} customers, {os.cpu_count()} cores")
    print("host gauge (seconds of a fixed Python loop before each measurement, on one core/"
          f"on every core at once; compare across runs): {host.describe()}\n")
    print(f"{'measurement':<52} {'seconds':>9}")
    names = [row for m in MEASUREMENTS for row in [(m.name, m.what),
                                                   *EXTRA_FIGURES.get(m.name, [])]]
    for name, what in names:
        if name in bench.figures:
            print(f"{what:<52} {bench.figures[name]:>9.3f}")
    print(f"\n{'target':<52} {'value':>9}  result")
    verdicts = {}
    for t in TARGETS:
        value = t.value(bench.figures)
        if value is None:
            print(f"{t.describe:<52} {'-':>9}  not measured")
            continue
        slow = host.slow_during(t.measured_by or t.name)
        verdicts[t.name] = {"value": value, "pass": t.ok(value), "host_slow": slow}
        shown = {"x": f"{value:.1f}x", "%": f"{value:.0f}%",
                 "ratio": f"{value:.2f}"}.get(t.unit, f"{value:.3f}")
        print(f"{t.describe:<52} {shown:>9}  {'PASS' if t.ok(value) else 'MISS'}"
              f"{'  (host slow)' if slow else ''}")
    return {"priorities": params.priorities, "customers": params.customers,
            "cores": os.cpu_count(), "host_gauges": bench.gauges,
            "host_steady": host.steady, "figures": bench.figures, "targets": verdicts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priorities", type=int, default=Params.priorities)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement (cold: pairs with check-jsonschema)")
    parser.add_argument("--pairs", type=int, default=7,
                        help="pairs of the CI path with check-jsonschema")
    parser.add_argument("--repo", type=Path, help="where to generate (default benchmarks/out/)")
    parser.add_argument("--only", action="append", choices=[m.name for m in MEASUREMENTS],
                        help="run only this measurement (repeatable)")
    args = parser.parse_args(argv)
    params = Params(args.priorities, min(Params.customers, args.priorities))
    repo = args.repo or OUT / f"repo-{params.priorities}"
    print(f"  preparing {repo} ...", file=sys.stderr, flush=True)
    ensure_repo(str(repo), params)
    files = sorted(str(p.relative_to(repo)) for p in repo.glob("customers/*/*/priority.yaml"))
    bench = Bench(repo, max(1, args.repeat), files, max(1, args.pairs))
    print(f"  installing ailoop into {INSTALLED} ...", file=sys.stderr, flush=True)
    install_ailoop()
    measure(bench, set(args.only or ()))
    results = report(bench, params)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
