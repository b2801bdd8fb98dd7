"""`ailoop demo`: the whole loop on the bundled example, offline, on real git.

A bare remote and one clone per actor (the engineer, the customer's reviewers, CI). Every
step runs the same `ailoop` commands the GitHub workflows run, with an injected clock, and
prints what happened, why, and which gate decided. Nothing outside the demo folder is
touched; no network, no API key.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from pipeline.demo.production import HANDLER, Arrival, Production, Window
from pipeline.errors import InputError
from pipeline.trust.botkey import KEY_ENV, generate_key_pair

CLAIMS = "northwind-insurance/claims-intake"
REFUNDS = "helio-saas/refund-requests"
EXAMPLE_PARTS = ("ailoop.yaml", "lessons.yaml", "customers", "policies", "schemas",
                 "monitoring")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OUTBOX = ".ailoop/outbox"
# Who approves what for claims-intake (roles from customer.yaml).
APPROVERS = {"lukas": "customer-reviewer", "mei": "risk-officer", "hannah": "customer-owner"}
BOT_KEY = "ailoop-bot"  # the bot's private key in the demo's keys/ folder
STAGE_APPROVERS = {"shadow": ["lukas"], "canary": ["lukas", "mei"],
                   "early": ["lukas", "mei"], "full": ["hannah", "mei"]}


def example_root() -> Path:
    """The example GitOps content: the repository this package was installed from."""
    here = Path(__file__).resolve().parents[2]
    if (here / "ailoop.yaml").is_file() and (here / "customers").is_dir():
        return here
    raise InputError("the bundled example was not found next to the package; run the demo "
                     "from a clone of the ailoop repository (make demo), or pass --example")


@dataclass
class Story:
    """The demo's state: folders, the clock and what to say."""

    base: Path
    say: Callable[[str], None]
    cli: Callable[[list[str]], int]  # the `ailoop` command, in-process (pipeline.cli.main)
    now: datetime = START
    steps: int = 0
    terminals: dict[str, str] = field(default_factory=dict)
    trace: str = ""  # the production trace the incident came from

    def __post_init__(self) -> None:
        self.base = self.base.resolve()  # git runs in each clone: a relative path would move

    @cached_property
    def production(self) -> Production:
        return Production(self.base / "production", self.clone("ci"), CLAIMS)

    @property
    def remote(self) -> Path:
        return self.base / "remote.git"

    def clone(self, actor: str) -> Path:
        return self.base / actor

    def iso(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def step(self, title: str) -> None:
        self.steps += 1
        self.say(f"\n{self.steps:>2}. {title}   [{self.now:%a %d %b %H:%M} UTC]")


def git(cwd: Path, *args: str, actor: str = "engineer") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": actor, "GIT_COMMITTER_NAME": actor,
           "GIT_AUTHOR_EMAIL": f"{actor}@demo.example", "GIT_COMMITTER_EMAIL":
           f"{actor}@demo.example", "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def ailoop(story: Story, actor: str, *args: str, show: int = 12,
           expect: Sequence[int] = (0,)) -> tuple[int, str]:
    """Run `ailoop -C <clone> ARGS` in-process, print its gist, return (code, output).
    Only CI holds the bot's signing key, as in the GitHub workflows."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), _bot_key(story, actor == "ci"), \
            _commit_dates(story):
        code = story.cli(["-C", str(story.clone(actor)), *args])
    text = out.getvalue() + _errors(err.getvalue())
    story.say(f"    $ ailoop {' '.join(args)}   (exit {code})")
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines[:show]:
        story.say(f"      {line[:220]}")
    if len(lines) > show:
        story.say(f"      ... ({len(lines) - show} more lines)")
    if code not in expect:
        raise RuntimeError(f"ailoop {' '.join(args)} exited {code}, expected {expect}:\n{text}")
    return code, text


@contextmanager
def _commit_dates(story: Story) -> Iterator[None]:
    """Commits ailoop makes are dated on the story's clock, as in CI where `now` is the
    wall clock: notifications look back 7 days from `now` along commit dates, and would
    miss every commit made in the story's future."""
    before = {name: os.environ.get(name) for name in _DATES}
    os.environ.update(dict.fromkeys(_DATES, story.iso()))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_DATES = ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")


@contextmanager
def _bot_key(story: Story, held: bool) -> Iterator[None]:
    """AILOOP_BOT_SIGNING_KEY names the demo bot's key while CI runs, and nothing else."""
    before = os.environ.pop(KEY_ENV, None)
    if held:
        os.environ[KEY_ENV] = str(story.base / "keys" / BOT_KEY)
    try:
        yield
    finally:
        os.environ.pop(KEY_ENV, None)
        if before is not None:
            os.environ[KEY_ENV] = before


def _errors(text: str) -> str:
    # progress bars and plain progress lines go to stderr; keep only messages
    return "\n".join(line for line in text.splitlines()
                     if line.startswith(("error", "warning")))


def setup(story: Story, example: Path) -> None:
    story.step("Set up: a GitOps repository with a bare remote and a clone per actor")
    seed = story.base / "seed"
    seed.mkdir(parents=True)
    for part in EXAMPLE_PARTS:
        src = example / part
        if src.is_dir():
            shutil.copytree(src, seed / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, seed / part)
    # The claims-intake priority arrives later, by pull request.
    shutil.move(str(seed / "customers" / CLAIMS), str(story.base / "claims-intake-draft"))
    _signing_keys(story, seed)
    _notifications_to_the_outbox(seed)
    git(story.base, "init", "-q", "--bare", "-b", "main", str(story.remote))
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "Example GitOps repository with signing keys")
    git(seed, "push", "-q", str(story.remote), "main")
    for actor in ("engineer", "reviewers", "dry-run", "ci"):
        git(story.base, "clone", "-q", str(story.remote), str(story.clone(actor)))
    story.say(f"    remote {story.remote}; clones: engineer, reviewers, dry-run (a read-only "
              "job without the bot key), ci")


def _notifications_to_the_outbox(seed: Path) -> None:
    """The demo runs offline: no mail server, no webhook URL. Unless the example configures
    notifications, they are switched on with no channel, so every one is written to the
    outbox instead of failing to send."""
    project = seed / "ailoop.yaml"
    if "\n  notifications:" in project.read_text():
        return  # an example that configures its own (a test's mail server and webhook)
    project.write_text(project.read_text().replace(
        "\nspec:\n", f"\nspec:\n  notifications:\n    outbox: {OUTBOX}\n", 1))
    for customer in sorted((seed / "customers").glob("*/customer.yaml")):
        customer.write_text(re.sub(r"\n  notification:\n(?:    [^\n]*\n)+",
                                   "\n  notification:\n    channel: none\n",
                                   customer.read_text(), count=1))
    with (seed / ".gitignore").open("a") as ignore:
        ignore.write(f"{OUTBOX}/\n")


def _signing_keys(story: Story, seed: Path) -> None:
    """Real SSH keys for the approvers, whose public keys go into customer.yaml, and for
    the bot (CI's secret), whose public key goes into ailoop.yaml."""
    keys = story.base / "keys"
    keys.mkdir()
    bot = generate_key_pair(str(keys / BOT_KEY))
    project = seed / "ailoop.yaml"
    text = re.sub(r"\n    signingKey: [^\n]*", "", project.read_text())  # the demo's own
    project.write_text(text.replace("\n  bot:\n", f"\n  bot:\n    signingKey: {bot}\n", 1))
    customer = seed / "customers" / "northwind-insurance" / "customer.yaml"
    text = customer.read_text()
    for person in APPROVERS:
        key = keys / person
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", person, "-f",
                        str(key)], check=True, capture_output=True)
        public = key.with_suffix(".pub").read_text().split()
        anchor = f"    - id: {person}\n"
        text = text.replace(anchor, f"{anchor}      signingKey: {public[0]} {public[1]}\n", 1)
    customer.write_text(text)


def pull(story: Story, actor: str) -> None:
    git(story.clone(actor), "pull", "-q", "--rebase", "--autostash", "origin", "main",
        actor=actor)


def new_priority_pr(story: Story) -> None:
    story.step("An engineer opens a PR adding a new priority: claims intake for Northwind")
    eng = story.clone("engineer")
    git(eng, "checkout", "-q", "-b", "claims-intake")
    target = eng / "customers" / CLAIMS
    shutil.copytree(story.base / "claims-intake-draft", target)
    shutil.rmtree(target / "fixes")
    shutil.rmtree(target / "events", ignore_errors=True)  # the pilot's feedback predates it
    spec = target / "priority.yaml"
    text = spec.read_text().replace("target: canary", "target: full")
    spec.write_text(text.replace("bakeTime: 48h", "bakeTim: 48h", 1))  # a typo slips in
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", "Add claims-intake priority")
    story.say("    CI (pr.yml) validates what the PR changes, with inline annotations:")
    ailoop(story, "engineer", "validate", "--changed-since", "origin/main", "--format",
           "github", "--now", story.iso(), expect=(1,))
    spec.write_text(spec.read_text().replace("bakeTim: 48h", "bakeTime: 48h"))
    git(eng, "commit", "-q", "-am", "Fix the bake time field name")
    story.say("    The engineer fixes the field; validation is clean:")
    ailoop(story, "engineer", "validate", "--changed-since", "origin/main", "--now",
           story.iso())


def failing_dry_run(story: Story) -> None:
    story.step("CI dry-runs the new priority on realistic customer data")
    ailoop(story, "engineer", "dry-run", CLAIMS, "--now", story.iso(), expect=(1,), show=16)
    story.say("    The German e-mails fail: the workflow only knows English keywords. The "
              "failure categories are stored as lessons.")


def fixed_dry_run(story: Story) -> None:
    story.step("The engineer fixes the smallest underlying issue and reruns")
    eng = story.clone("engineer")
    shutil.copy2(story.base / "claims-intake-draft" / "fixes" / "workflow_v2.py",
                 eng / "customers" / CLAIMS / "workflow.py")
    spec = eng / "customers" / CLAIMS / "priority.yaml"
    spec.write_text(spec.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    ailoop(story, "engineer", "dry-run", CLAIMS, "--now", story.iso(), show=16)
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", "Claims intake v1.1: German keywords; evidence")
    git(eng, "checkout", "-q", "main")
    git(eng, "merge", "-q", "--ff-only", "claims-intake")
    git(eng, "push", "-q", "origin", "main")
    story.say("    Reviewed and merged: main now has the priority and the PR's evidence, which "
              "counts for nothing until a trusted run repeats it.")
    trusted_run(story, CLAIMS)


def trusted_run(story: Story, key: str, expect: Sequence[int] = (0,)) -> None:
    """A dry run from the default branch, in a job of its own that holds no write token and
    no bot key; CI then commits what it wrote as the bot. Only such evidence counts."""
    story.step(f"A trusted run: the default branch's dry run of {key}, committed by CI")
    pull(story, "dry-run")
    ailoop(story, "dry-run", "dry-run", key, "--now", story.iso(), expect=expect, show=3)
    pull(story, "ci")
    folder = story.clone("dry-run") / "customers" / key / "evidence"
    ailoop(story, "ci", "evidence", "commit", str(folder), "--push", show=4)


def reconcile(story: Story, why: str, *, expect: Sequence[int] = (0,)) -> str:
    story.step(why)
    pull(story, "ci")
    production(story)
    _, out = ailoop(story, "ci", "reconcile", "--push", "--now", story.iso(), expect=expect)
    return out


def approve(story: Story, stage: str) -> None:
    pull(story, "reviewers")
    for person in STAGE_APPROVERS[stage]:
        ailoop(story, "reviewers", "approve", CLAIMS, "--stage", stage, "--key",
               str(story.base / "keys" / person), "--push", show=2)


def production(story: Story) -> Window | None:
    """Northwind's claims service serves the e-mails since the last reconcile through
    ailoop-runtime, and its readings land where the file monitoring provider reads them
    (not committed: they are data from production, not a spec)."""
    window = story.production.replay(story.now)
    if window is None:
        story.say("    production: no AI version is out; the existing process handles every "
                  "e-mail, so there is nothing to measure")
        return None
    if not window.hours:
        story.say(f"    production ({window.flag}): no new e-mails since the last readings")
        return window
    served = ", ".join(f"{n} to {v}" for v, n in sorted(window.requests.items()))
    story.say(f"    production through ailoop-runtime ({window.flag}; flagd chooses per "
              f"e-mail): {sum(window.requests.values()) + window.errors} e-mails in "
              f"{window.hours:.0f} h: {served}"
              + (f", {window.errors} failed with an error" if window.errors else "")
              + (f"; {window.shadows} shadow runs" if window.shadows else ""))
    d = window.decisions
    if d:
        story.say(f"      guard: {d['set-claim-category executed']} categories set at once "
                  "(internal)" + (f"; {d['escalate-urgent-claim queued']} escalations "
                  f"(customer-facing) waited for a person: handler {HANDLER} confirmed "
                  f"{d['escalate-urgent-claim confirmed']}, rejected "
                  f"{d['escalate-urgent-claim rejected']}"
                  if d["escalate-urgent-claim queued"] else ""))
    story.say("      the runtime's readings, exported hourly to monitoring/readings.jsonl, "
              "are all the gates read")
    return window


def walk(story: Story, stages: Sequence[str], first_wait: timedelta) -> None:
    story.now += first_wait
    for stage in stages:
        reconcile(story, f"Reconcile: stage '{stage}' needs approvals on this exact evidence")
        story.say(f"    Reviewers approve '{stage}' with signed git approvals:")
        approve(story, stage)
        reconcile(story, f"Reconcile: every gate holds, so the rollout enters '{stage}'")
        story.now += timedelta(hours=73)


def verify_chain(story: Story) -> None:
    """`ailoop verify` walks the chain behind what is tried; a hand edit of the trusted
    run's statement breaks a named link, and reverting it is the release."""
    story.step("Verify: the chain behind the candidate, then a forged statement")
    pull(story, "ci")
    ailoop(story, "ci", "verify", CLAIMS, show=10)
    eng = story.clone("engineer")
    pull(story, "engineer")
    for path in sorted((eng / "customers" / CLAIMS / "evidence").glob("*.intoto.json")):
        statement = json.loads(path.read_text())
        for subject in statement["subject"]:  # digests of code that never ran
            subject["digest"]["sha256"] = "0" * 64
        path.write_text(json.dumps(statement, indent=2) + "\n")
    git(eng, "commit", "-q", "-am", "Statements: name the new workflow's digests")
    git(eng, "push", "-q", "origin", "main")
    pull(story, "ci")
    ailoop(story, "ci", "verify", CLAIMS, expect=(1,), show=1)
    git(eng, "revert", "--no-edit", "HEAD")
    git(eng, "push", "-q", "origin", "main")
    pull(story, "ci")
    ailoop(story, "ci", "verify", CLAIMS, show=1)


# A first-notice-of-loss e-mail in French about water damage: the dataset's only French
# e-mail is a car park accident, and v1.1.0 has no French keywords. Production receives it
# two hours before the incident.
FRENCH_LEAK = {
    "sender": "elodie.martin@mail.example",
    "subject": "Dégât des eaux dans l'appartement",
    "body": "Bonjour, une fuite d'eau chez le voisin du dessus inonde notre salon depuis cette "
            "nuit et l'eau coule toujours. L'appartement est inhabitable avec les enfants. "
            "Merci de nous rappeler. Élodie Martin",
    "policy_number": "NW-HOM-552014",
}
LEAK_EXPECTED = {"claim_type": "property", "urgency": "urgent"}
INCIDENT = "inc-2026-0107"


def incident(story: Story) -> None:
    story.step("Production: a French water-leak e-mail, and v1.1.0 routes it as normal")
    story.production.arrivals.append(Arrival(story.now - timedelta(hours=2), FRENCH_LEAK,
                                              LEAK_EXPECTED, "french-leak"))
    pull(story, "ci")
    window = production(story)
    answer = window.answers.get("french-leak") if window else None
    if answer is None or answer.output is None:
        raise RuntimeError("the French e-mail was not answered by an AI version")
    story.trace = answer.trace
    story.say(f"    The French e-mail went to {answer.variant} v{answer.version}, which answered "
              f"{answer.output['claim_type']} / {answer.output['urgency']}: no escalation was "
              "proposed, so no handler saw it. The runtime traced it as "
              f"{answer.trace} in {story.production.traces.name}.")
    eng = story.clone("engineer")
    pull(story, "engineer")
    folder = eng / "customers" / CLAIMS / "events"
    folder.mkdir(exist_ok=True)
    (folder / f"{INCIDENT}.yaml").write_text(
        f"apiVersion: ailoop.dev/v1\nkind: Incident\nmetadata:\n  name: {INCIDENT}\n"
        "spec:\n  severity: high\n  reportedBy: hannah\n"
        f"  time: {story.iso()}\n  summary: A water-leak claim in French was marked normal "
        f"(trace {answer.trace}).\n")
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", f"Incident {INCIDENT}")
    git(eng, "push", "-q", "origin", "main")
    story.say(f"    Hannah (Northwind) files {INCIDENT}, naming the trace.")
    story.now += timedelta(minutes=20)
    reconcile(story, "Reconcile: the incident rolls the priority back at once, no approval "
                     "needed")
    story.now += timedelta(hours=2)
    reconcile(story, "Reconcile again: the rollback holds; automation never re-promotes")


def fix_incident(story: Story) -> None:
    story.step("The fix: the traced e-mail becomes a regression case, then French keywords")
    eng = story.clone("engineer")
    pull(story, "engineer")
    _, out = ailoop(story, "engineer", "dataset", "add", CLAIMS, "--from-incident", INCIDENT,
                    "--from-trace", story.trace, "--traces", str(story.production.traces),
                    "--expected", json.dumps(LEAK_EXPECTED), show=4)
    branch = re.search(r"ailoop/regression/\S+", out)
    if branch is None:
        raise RuntimeError(f"ailoop dataset add named no branch:\n{out}")
    git(eng, "checkout", "-q", branch.group(0).rstrip(".:,"))
    workflow = eng / "customers" / CLAIMS / "workflow.py"
    text = workflow.read_text().replace('"dach", "keller"),', '"dach", "keller",\n'
                                        '                 "fuite", "dégât des eaux"),', 1)
    workflow.write_text(text.replace('"läuft", "gestrandet",', '"läuft", "gestrandet",\n'
                                     '    "coule toujours", "inhabitable",', 1))
    spec = eng / "customers" / CLAIMS / "priority.yaml"
    spec.write_text(spec.read_text().replace('version: "1.1.0"', 'version: "1.1.1"'))
    story.say("    On that branch the engineer adds French water-damage and urgency keywords "
              "(v1.1.1); its dry run runs the new critical case:")
    ailoop(story, "engineer", "dry-run", CLAIMS, "--now", story.iso(), show=8)
    event = eng / "customers" / CLAIMS / "events" / f"{INCIDENT}.yaml"
    event.write_text(event.read_text() + f"  resolved: true\n  resolvedAt: {story.iso()}\n"
                     "  resolution: French keywords for water damage (v1.1.1).\n")
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", "Claims intake v1.1.1: French water keywords; resolve "
                                   f"{INCIDENT}")
    git(eng, "checkout", "-q", "main")
    git(eng, "merge", "-q", "--ff-only", branch.group(0).rstrip(".:,"))
    git(eng, "push", "-q", "origin", "main")
    story.say("    Reviewed and merged: the case and the fix reach main together.")
    trusted_run(story, CLAIMS)
    story.say("    The case's expected output counts once a customer reviewer who did not "
              "write it confirms it:")
    pull(story, "reviewers")
    case = f"regression-{INCIDENT}"
    ailoop(story, "reviewers", "approve", CLAIMS, "--case", case, "--key",
           str(story.base / "keys" / "lukas"), "--push", show=2)


def complete(story: Story) -> None:
    story.now += timedelta(hours=25)
    reconcile(story, "Reconcile: v1.1.1 baked at full with every gate passing; it becomes "
                     "the serving version, and the fix cycle ends in issue-fixed")


def upgrade(story: Story) -> None:
    story.step("An upgrade: v1.2.0 handles attachment-only e-mails (no body)")
    eng = story.clone("engineer")
    pull(story, "engineer")
    workflow = eng / "customers" / CLAIMS / "workflow.py"
    workflow.write_text(workflow.read_text().replace(
        'input["body"]', '(input.get("body") or "")', 1))
    spec = eng / "customers" / CLAIMS / "priority.yaml"
    spec.write_text(spec.read_text().replace('version: "1.1.1"', 'version: "1.2.0"').replace(
        "      criticalMustPass: true\n",
        "      criticalMustPass: true\n      noRegressionOn: [critical]\n", 1))
    story.say("    The engineer also sets noRegressionOn: [critical]: the dry run runs the "
              "serving v1.1.1 (its code from the commit that recorded its trusted evidence) "
              "on the same cases, and a critical case it passes may not fail on v1.2.0:")
    _, out = ailoop(story, "engineer", "dry-run", CLAIMS, "--now", story.iso(), show=8)
    versus_serving(story, out)
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", "Claims intake v1.2.0: attachment-only e-mails; evidence")
    git(eng, "push", "-q", "origin", "main")
    trusted_run(story, CLAIMS)
    story.now += timedelta(minutes=30)
    reconcile(story, "Reconcile: v1.2.0 is the new candidate; the serving v1.1.1 keeps "
                     "all the traffic until v1.2.0 has its own approvals")
    for stage in ("shadow", "canary"):
        story.say(f"    Reviewers approve '{stage}' for v1.2.0:")
        approve(story, stage)
        reconcile(story, f"Reconcile: v1.2.0 enters '{stage}' beside the serving v1.1.1")
        story.now += timedelta(hours=49)
    story.say("    The flag production reads: 5% of requests to v1.2.0, the rest to v1.1.1:")
    flags = json.loads((story.clone("ci") / "customers" / "northwind-insurance" /
                        "flags.flagd.json").read_text())["flags"]["claims-intake"]
    story.say(f"      variants: serving v{flags['variants']['serving']['version']}, "
              f"candidate v{flags['variants']['candidate']['version']} at "
              f"{flags['variants']['candidate']['stage']}; split "
              f"{flags['targeting']['fractional']}")


def versus_serving(story: Story, out: str) -> None:
    """The dry run's comparison with the serving version, from its report."""
    lines = out.splitlines()
    shown = [line for line in lines if "no regression on" in line]
    for i, line in enumerate(lines):
        if " versus serving v" in line or line.startswith("not compared with serving"):
            shown.append(line)
            shown += [ln for ln in lines[i + 1:i + 3] if ln.startswith("  ")]
    if not any("versus serving" in line for line in shown):
        raise RuntimeError(f"the dry run of v1.2.0 made no comparison with serving:\n{out}")
    story.say("    Against the serving version, case by case:")
    for line in shown:
        story.say(f"      {line.strip()[:220]}")


def review(story: Story) -> None:
    story.step("Scheduled operations review: health, incidents, feedback, cost, ROI")
    pull(story, "ci")
    production(story)
    ailoop(story, "ci", "review", CLAIMS, "--now", story.iso(), "--push", show=30)


def blocked(story: Story) -> None:
    story.step("Another priority: refund requests fail their dry run and are escalated")
    pull(story, "engineer")
    ailoop(story, "engineer", "dry-run", REFUNDS, "--now", story.iso(), expect=(1,), show=8)
    eng = story.clone("engineer")
    git(eng, "add", "-A")
    git(eng, "commit", "-q", "-m", "Refund requests: dry-run evidence")
    git(eng, "push", "-q", "origin", "main")
    trusted_run(story, REFUNDS, expect=(1,))
    reconcile(story, "Reconcile: the failed dry run keeps the rollout blocked")
    story.say("    Where everything stands (the blocked priority names its owner):")
    ailoop(story, "ci", "status", "--now", story.iso(), show=8)


def tell(story: Story) -> list[str]:
    story.step("Tell people: customer updates, the dashboard, the audit trail")
    pull(story, "ci")
    paths = []
    for key in (CLAIMS, REFUNDS):
        for fmt in ("md", "html"):
            _, out = ailoop(story, "ci", "update", key, "--format", fmt, "--now", story.iso(),
                            show=1)
            paths.append(out.split("wrote ", 1)[-1].strip())
    site = story.base / "site"
    ailoop(story, "ci", "site", "--out", str(site), "--now", story.iso(), show=1)
    paths.append(str(site / "index.html"))
    ci = story.clone("ci")
    git(ci, "add", "customers")
    git(ci, "commit", "-q", "-m", "Customer updates", actor="ailoop-bot")
    git(ci, "push", "-q", "origin", "main", actor="ailoop-bot")
    if (ci / OUTBOX).is_dir():
        _show_outbox(story, ci / OUTBOX)
    story.say("    git log (the audit trail), newest first:")
    for line in git(ci, "log", "--format=%h %an: %s", "-n", "40").splitlines():
        story.say(f"      {line}")
    return paths


def _show_outbox(story: Story, outbox: Path) -> None:
    sent = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    sent.sort(key=lambda r: (r["commit"], r["id"], r["route"]))
    story.say(f"    Notifications it would send ({len(sent)}, written to {outbox}):")
    for r in sent:
        to = ", ".join(r["to"]) if r["route"] == "people" else "the customer's channel"
        story.say(f"      {r['subject']}  -> {to}")


def terminal_states(story: Story) -> dict[str, str]:
    """Every terminal state the loop recorded, from the status history in git."""
    ci = story.clone("ci")
    seen: dict[str, str] = {}
    for sha in git(ci, "log", "--format=%H", "--", "customers").splitlines():
        for key in (CLAIMS, REFUNDS):
            try:
                text = git(ci, "show", f"{sha}:customers/{key}/status.yaml")
            except RuntimeError:
                continue
            for state in ("stage-reached", "issue-fixed", "blocked", "healthy-review"):
                if f"state: {state}" in text:
                    seen.setdefault(state, key)
    return seen


def run_demo(base: Path, example: Path, say: Callable[[str], None],
             cli: Callable[[list[str]], int]) -> dict[str, object]:
    """Play the story; `cli` runs one `ailoop` command line and returns its exit code."""
    started = time.monotonic()
    story = Story(base, say, cli)
    setup(story, example)
    new_priority_pr(story)
    failing_dry_run(story)
    fixed_dry_run(story)
    walk(story, ["shadow", "canary", "early", "full"], timedelta(minutes=30))
    verify_chain(story)
    incident(story)
    fix_incident(story)
    # The fix is a new version: a new candidate, which starts again at the first stage.
    walk(story, ["shadow", "canary", "early", "full"], timedelta(hours=1))
    complete(story)
    upgrade(story)
    story.now += timedelta(days=30)
    review(story)
    blocked(story)
    paths = tell(story)
    states = terminal_states(story)
    say("\nTerminal states recorded: " + ", ".join(f"{s} ({k})" for s, k in states.items()))
    say("Files to look at:")
    for path in [str(story.clone("ci")), *paths]:
        say(f"  {path}")
    say(f"Done in {time.monotonic() - started:.1f} s.")
    return {"terminals": states, "paths": paths, "repo": str(story.clone("ci")),
            "traces": str(story.production.traces)}
