"""Dry-run throughput: 1,000 cases against a local chat-completions endpoint that answers
after 50 ms, at concurrency 16 (the ideal is 1000 / 16 * 50 ms = 3.125 s; the limit is
3.1 s + 15%). The endpoint runs in its own process so it does not share our GIL.

    .venv/bin/python benchmarks/dryrun_bench.py [--cases N] [--concurrency N] [--promptfoo]

Prints one line per figure. With --promptfoo (and promptfoo installed, e.g.
`npm install -g promptfoo`) runs the same cases against the same endpoint with promptfoo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.dryrun.runner import DryRunSettings, run_dry_run  # noqa: E402

LIMIT_SECONDS = 3.1 * 1.15

PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: bench
spec:
  goal: Benchmark.
  owner: bench
  inputData:
    source: synthetic
  expectedOutput:
    description: echo
    format: json
  risk: low
  workflow:
    provider: openai
    version: "1"
    openai:
      baseUrl: {url}
      model: bench-model
      apiKeyEnv: BENCH_KEY
      promptTemplate: "{{{{ text }}}}"
  dryRun:
    dataset: dataset.jsonl
    concurrency: {concurrency}
    assertions:
      - type: field-equals
        field: echo
    thresholds:
      passRate: 1.0
  rollout:
    target: shadow
    stages:
      - name: shadow
        percent: 0
        bakeTime: 1h
"""


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.unit.providers.chat_server",
                             "--latency", str(latency)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}/v1"


def make_repo(root: Path, url: str, cases: int, concurrency: int) -> str:
    folder = root / "customers" / "bench" / "echo"
    folder.mkdir(parents=True)
    (root / "ailoop.yaml").write_text("")
    (folder / "priority.yaml").write_text(PRIORITY.format(url=url, concurrency=concurrency))
    with open(folder / "dataset.jsonl", "w") as fh:
        for i in range(cases):
            text = f"case number {i}"
            fh.write(json.dumps({"id": f"c{i:04d}", "input": {"text": text},
                                 "expected": {"echo": text}}) + "\n")
    return "bench/echo"


def run_ailoop(root: Path, key: str, concurrency: int) -> tuple[float, dict[str, object]]:
    settings = DryRunSettings(root=str(root), key=key, now=datetime.now(UTC),
                              env={"BENCH_KEY": "sk-bench"}, concurrency=concurrency,
                              use_cache=False)
    started = time.perf_counter()
    report = run_dry_run(settings)
    return time.perf_counter() - started, report.evidence["summary"]


def run_promptfoo(root: Path, url: str, cases: int, concurrency: int) -> float | None:
    exe = shutil.which("promptfoo")
    if exe is None:
        return None
    config = root / "promptfooconfig.yaml"
    tests = "\n".join(f"  - vars: {{text: 'case number {i}'}}" for i in range(cases))
    config.write_text(f"""prompts: ["{{{{text}}}}"]
providers:
  - id: openai:chat:bench-model
    config: {{apiBaseUrl: "{url}", apiKey: sk-bench}}
tests:
{tests}
""")
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_CACHE_ENABLED": "false",
           "PROMPTFOO_DISABLE_UPDATE": "1"}
    started = time.perf_counter()
    proc = subprocess.run([exe, "eval", "-c", str(config), "--no-cache", "-j", str(concurrency),
                           "--no-table", "--no-write", "--no-progress-bar"], cwd=root, env=env,
                          check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-6:]
    print("promptfoo said:", *tail, sep="\n  ")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--promptfoo", action="store_true")
    args = parser.parse_args()
    server, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            key = make_repo(root, url, args.cases, args.concurrency)
            seconds, summary = run_ailoop(root, key, args.concurrency)
            ideal = args.cases / args.concurrency * args.latency
            print(f"ailoop dry-run: {args.cases} cases, concurrency {args.concurrency}, "
                  f"{args.latency * 1000:.0f} ms endpoint: {seconds:.2f} s "
                  f"(ideal {ideal:.2f} s, limit {LIMIT_SECONDS:.2f} s, "
                  f"passed {summary['passed']}/{summary['cases']})")
            if args.promptfoo:
                other = run_promptfoo(root, url, args.cases, args.concurrency)
                print("promptfoo eval: not installed" if other is None
                      else f"promptfoo eval: {other:.2f} s (same cases and endpoint)")
    finally:
        server.terminate()
        server.wait()
    return 0 if seconds <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
