"""The loop's invariants on random histories: a hypothesis state machine drives a real git
repository with a bare remote through PRs (workflow, dataset and target changes), dry runs
that pass or fail, approvals by the right and the wrong roles on current and old evidence,
readings that are good, bad or stale, incidents opened and resolved, time passing, hand
edits of status.yaml, a second reconciler racing, and pushes. After every reconcile:

  I1  the candidate gets traffic only with passing evidence for its current input
      fingerprint and its stage's approvals bound to that fingerprint;
  I2  the serving version changes only to a candidate that completed its rollout;
  I3  traffic moves only between declared stages, one stage up at most per reconcile, and
      never up on missing or stale readings;
  I4  the recorded phase and terminal state agree with the state;
  I5  a second reconcile with nothing new changes nothing and commits nothing;
  I6  the canaries planted in datasets, events and exception texts appear in no file
      ailoop writes and in no output.

`AILOOP_LOOP_EXAMPLES` (default 6) and `AILOOP_LOOP_STEPS` (default 30) size the run;
`make loop` runs a long one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pipeline.cli.main import main
from pipeline.documents.load import load_document
from pipeline.model.status import StatusBody
from tests.support import commit_evidence, git
from tests.unit.reconciler.builders import (
    KEY,
    STAGE_ROLES,
    STAGES,
    T0,
    approve,
    evidence_id,
    incident,
    iso,
    make_tree,
    reading,
    set_target,
    write_evidence,
)
from tests.unit.reconciler.test_plan_properties import check_terminal

EXAMPLES = int(os.environ.get("AILOOP_LOOP_EXAMPLES", "6"))
STEPS = int(os.environ.get("AILOOP_LOOP_STEPS", "30"))
NAMES = [name for name, _, _ in STAGES]
BAKE = {name: timedelta(hours=int(bake[:-1])) for name, _, bake in STAGES}
WINDOW, STALE, THRESHOLD, MIN_SAMPLES = (timedelta(hours=1), timedelta(minutes=30), 0.02,
                                         100)
FOLDER = Path("customers") / KEY
STATUS, FLAGS = FOLDER / "status.yaml", Path("customers/acme/flags.flagd.json")
# Canaries: personal data ailoop must never repeat (the redactor's e-mail and IBAN kinds).
CANARY_EMAIL = "canary.person@leak-7f3a.example"
CANARY_IBAN = "DE89370400440532013000"
CANARIES = ("canary.person", "leak-7f3a", CANARY_IBAN, "0532013000")
REPORT: dict[str, int] = {"histories": 0, "steps": 0, "reconciles": 0, "promotions": 0,
                          "completions": 0, "rollbacks": 0, "replacements": 0, "holds": 0}


class LoopMachine(RuleBasedStateMachine):
    """The people (an engineer, reviewers, production) and two CI reconcilers around one
    priority, acme/triage, with a model of what they gave it."""

    def __init__(self) -> None:
        super().__init__()
        REPORT["histories"] += 1
        self.tmp = Path(tempfile.mkdtemp(prefix="ailoop-loop-"))
        self.now = T0
        self.version = 0
        self.cases = 0
        self.remote = self.tmp / "remote.git"
        git(self.tmp, "init", "-q", "--bare", "-b", "main", str(self.remote))
        human = make_tree(self.tmp / "human")
        case = {"id": "c2", "input": {"text": f"from {CANARY_EMAIL}, IBAN {CANARY_IBAN}"},
                "expected": "support"}
        with (human / FOLDER / "dataset.jsonl").open("a") as fh:
            fh.write(json.dumps(case) + "\n")
        git(human, "init", "-q", "-b", "main")
        git(human, "remote", "add", "origin", str(self.remote))
        self.human, self.ci, self.racer = human, self.tmp / "ci", self.tmp / "racer"
        self.commit("A new priority: ticket triage")
        for clone in (self.ci, self.racer):
            git(self.tmp, "clone", "-q", str(self.remote), str(clone))
        self.passing: dict[str, bool] = {}  # evidence committed: fingerprint -> passed
        self.approved: set[tuple[str, str]] = set()  # (stage, fingerprint), every role
        self.readings: list[tuple[datetime, float]] = []  # what production reported
        self.outputs: list[str] = []  # everything ailoop printed

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the people -----------------------------------------------------------------------

    def commit(self, message: str) -> None:
        git(self.human, "add", "-A")
        git(self.human, "commit", "-q", "--allow-empty", "-m", message)
        git(self.human, "push", "-q", "origin", "HEAD:main")

    def pull(self, clone: Path) -> None:
        # --autostash: production's readings land in the CI clone's work tree.
        git(clone, "pull", "-q", "--rebase", "--autostash", "origin", "main")

    def fingerprint(self) -> str:
        return evidence_id(self.human, KEY)

    @rule(breaks=st.booleans())
    def new_workflow_version(self, breaks: bool) -> None:
        """A PR changes the workflow code (a new fingerprint); sometimes it raises with the
        customer's data in the message."""
        self.pull(self.human)
        self.version += 1
        body = (f"    raise ValueError('cannot route ' + str(input))  # v{self.version}\n"
                if breaks else f"    return 'support'  # v{self.version}\n")
        (self.human / FOLDER / "workflow.py").write_text(f"def run(input):\n{body}")
        self.commit(f"Workflow v{self.version}")

    @rule()
    def new_dataset_case(self) -> None:
        self.pull(self.human)
        with (self.human / FOLDER / "dataset.jsonl").open("a") as fh:
            self.cases += 1
            fh.write(json.dumps({"id": f"d{self.cases}",
                                 "input": {"text": f"hello {self.now:%H%M}"},
                                 "expected": "support"}) + "\n")
        self.commit("Dataset: one more case")

    @rule()
    def real_dry_run(self) -> None:
        """The engineer runs the real dry run and commits its evidence."""
        self.pull(self.human)
        fp = self.fingerprint()
        code = self.ailoop(self.human, "dry-run", KEY, "--now", iso(self.now))
        assert code in (0, 1), code
        self.passing[fp] = code == 0
        commit_evidence(self.human)
        self.commit("Dry-run evidence")

    @rule(passed=st.booleans())
    def recorded_dry_run(self, passed: bool) -> None:
        self.pull(self.human)
        self.passing[write_evidence(self.human, KEY, passed=passed, created=self.now)] = passed
        commit_evidence(self.human)
        self.commit("Evidence")

    @rule(stage=st.sampled_from(NAMES), right=st.booleans(), current=st.booleans())
    def approve(self, stage: str, right: bool, current: bool) -> None:
        self.pull(self.human)
        fp = self.fingerprint() if current else "ev-00000000000000ff"
        roles = STAGE_ROLES[stage] if right else ("customer-owner",)
        approve(self.human, KEY, stage, fp, roles, self.now)
        if right and roles == STAGE_ROLES[stage]:
            self.approved.add((stage, fp))
        self.commit(f"Approve {stage}")

    @rule(stages=st.integers(1, 5))
    def everything_for_the_next_stages(self, stages: int) -> None:
        """The happy path, so histories get far: for each of the next `stages` stages,
        passing evidence for what is on disk, that stage's approvals by the right people,
        its bake time, healthy readings and a reconcile."""
        for _ in range(stages):
            self.everything_for_the_next_stage()

    def everything_for_the_next_stage(self) -> None:
        self.pull(self.human)
        fp = self.fingerprint()
        if not self.passing.get(fp):
            self.passing[write_evidence(self.human, KEY, created=self.now)] = True
            commit_evidence(self.human)
        cand = self.status(self.human).candidate
        here = NAMES.index(cand.stage) if cand and cand.stage in NAMES and \
            cand.evidence_id == fp else -1
        stage = NAMES[min(here + 1, len(NAMES) - 1)]
        approve(self.human, KEY, stage, fp, STAGE_ROLES[stage], self.now)
        self.approved.add((stage, fp))
        self.commit(f"Ready for {stage}")
        self.now += BAKE[NAMES[max(here, 0)]] + timedelta(minutes=1)
        self.production_reports(0.005, 0)
        self.reconcile(pull=True)  # the merge triggers CI

    @rule(value=st.sampled_from([0.005, 0.005, 0.08]), age=st.sampled_from([0, 0, 45]))
    def production_reports(self, value: float, age: int) -> None:
        """An hour of readings, ending `age` minutes ago (45: stale)."""
        end = self.now - timedelta(minutes=age)
        times = [end - timedelta(minutes=10 * i) for i in range(6, -1, -1)]
        with (self.ci / "monitoring" / "readings.jsonl").open("a") as fh:
            fh.writelines(reading(KEY, t, value) for t in times)
        self.readings += [(t, value) for t in times]

    @rule(severity=st.sampled_from(["low", "medium", "high", "critical"]))
    def incident_opened(self, severity: str) -> None:
        self.pull(self.human)
        name = f"inc-{len(list((self.human / FOLDER).glob('events/*')))}"
        incident(self.human, KEY, name, severity, when=self.now)
        path = self.human / FOLDER / "events" / f"{name}.yaml"
        path.write_text(path.read_text().replace(
            "Wrong team for urgent tickets.", f"Mail from {CANARY_EMAIL} went astray."))
        self.commit(f"Incident {name}")

    @rule()
    def incidents_resolved(self) -> None:
        self.pull(self.human)
        for path in (self.human / FOLDER).glob("events/*.yaml"):
            text = path.read_text()
            if "resolved: true" not in text:
                path.write_text(text + "  resolved: true\n")
        self.commit("Resolve incidents")

    @rule(stage=st.sampled_from(NAMES))
    def target_changed(self, stage: str) -> None:
        self.pull(self.human)
        set_target(self.human, KEY, stage)
        self.commit(f"Target {stage}")

    @rule(minutes=st.sampled_from([5, 30, 61, 121, 600]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(edit=st.sampled_from(["percent", "stage"]))
    def hand_edit_of_the_status(self, edit: str) -> None:
        """Someone edits status.yaml by hand: reconcile never acts on it; then the edit
        is reverted."""
        self.pull(self.human)
        path = self.human / STATUS
        if not path.exists() or "candidate:" not in path.read_text():
            return
        pattern = {"percent": r"(?m)^    percent: ", "stage": r"(?m)^    stage: "}[edit]
        forged = {"percent": "    percent: 15", "stage": "    stage: turbo-"}[edit]
        text, count = re.subn(pattern, forged, path.read_text(), count=1)
        if not count:
            return
        path.write_text(text)
        self.commit("Hand edit of the status")
        edit_commit = git(self.human, "rev-parse", "HEAD")
        self.pull(self.ci)
        flags_before = self.read(self.ci, FLAGS)
        self.ailoop(self.ci, "reconcile", "--push", "--now", iso(self.now))
        assert self.read(self.ci, FLAGS) == flags_before, "a hand edit moved the traffic"
        self.pull(self.human)
        git(self.human, "revert", "--no-edit", edit_commit)
        git(self.human, "push", "-q", "origin", "HEAD:main")
        self.pull(self.ci)

    # --- the reconcilers ------------------------------------------------------------------

    @rule()
    def a_second_reconciler_races(self) -> None:
        """Another CI job reconciles and pushes first; ours finds its push rejected."""
        self.pull(self.racer)
        self.ailoop(self.racer, "reconcile", "--push", "--now", iso(self.now))
        self.reconcile(pull=False)

    @rule()
    def reconcile_on_merge(self) -> None:
        self.reconcile(pull=True)

    def reconcile(self, *, pull: bool) -> None:
        REPORT["reconciles"] += 1
        if pull:
            self.pull(self.ci)
        before = self.status(self.ci)
        code = self.ailoop(self.ci, "reconcile", "--push", "--now", iso(self.now))
        assert code == 0, self.outputs[-1]
        after = self.status(self.ci)
        self.check_traffic(before, after)
        self.count(self.outputs[-1])
        head = git(self.ci, "rev-parse", "HEAD")
        again = self.ailoop_text(self.ci, "reconcile", "--push", "--now", iso(self.now))
        assert again == "No changes\n", again  # I5
        assert git(self.ci, "rev-parse", "HEAD") == head

    @staticmethod
    def count(out: str) -> None:
        for word, key in (("promote ", "promotions"), ("complete the rollout", "completions"),
                          ("roll back", "rollbacks"), ("replace the candidate", "replacements"),
                          ("holds", "holds")):
            REPORT[key] += out.count(word)

    def check_traffic(self, before: StatusBody, after: StatusBody) -> None:
        fp = self.fingerprint_at(self.ci)
        old, new = before.candidate, after.candidate
        if new is not None and new.stage is not None:  # I1, I3
            assert new.evidence_id == fp, "traffic for a fingerprint that is not on disk"
            assert self.evidence_passed(fp), "traffic without passing evidence"
            assert new.stage in NAMES
            same = old is not None and old.evidence_id == new.evidence_id
            was = NAMES.index(old.stage) if same and old and old.stage else None
            now = NAMES.index(new.stage)
            if was is None or now > was:
                assert now == (0 if was is None else was + 1), "more than one stage up"
                assert (new.stage, fp) in self.approved, "a stage without its approvals"
                if was is not None:
                    assert self.healthy(), "promoted on missing, stale or failing readings"
        if after.serving != before.serving:  # I2
            assert old is not None and old.stage == "full" and after.serving is not None
            assert after.serving.evidence_id == old.evidence_id == fp
            assert old.entered is not None and self.now >= old.entered + BAKE["full"]
            assert self.healthy(), "completed on missing, stale or failing readings"
        self.check_flags(after)

    def check_flags(self, status: StatusBody) -> None:
        flags = json.loads(self.read(self.ci, FLAGS) or '{"flags": {}}')["flags"]
        flag = flags.get("triage")
        cand = status.candidate
        staged = cand if cand is not None and cand.stage is not None else None
        if staged is None and status.serving is None:
            assert flag is None
            return
        assert flag is not None
        if staged is not None and staged.percent > 0:
            assert flag["variants"]["candidate"]["evidenceId"] == staged.evidence_id
            share = flag["targeting"]["fractional"][0][1]
            assert share == round(staged.percent * 100)
        else:
            assert "targeting" not in flag
        serving = flag["variants"]["serving"]
        assert serving.get("evidenceId") == (status.serving.evidence_id
                                             if status.serving else None)

    def evidence_passed(self, fp: str) -> bool:
        """Passing evidence for `fp` in the tree the reconciler acted on."""
        text = self.read(self.ci, FOLDER / "evidence" / f"{fp}.json")
        return text is not None and json.loads(text).get("passed") is True

    def healthy(self) -> bool:
        """What the error-rate gate must read to pass now (window 1h, 100 samples, fresh
        within 30m, at most 2 %)."""
        seen = [(t, v) for t, v in self.readings if self.now - WINDOW < t <= self.now]
        if not seen or self.now - max(t for t, _ in seen) > STALE:
            return False
        return len(seen) * 500 >= MIN_SAMPLES and sum(v for _, v in seen) / len(seen) \
            <= THRESHOLD

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def terminal_state_is_true(self) -> None:  # I4
        status = self.status(self.ci)
        if self.read(self.ci, STATUS) is None:
            return
        from pipeline.reconcile.plan import Action, PriorityPlan

        check_terminal(PriorityPlan(KEY, (Action(KEY, "none", "target", ""),), status,
                                    status))

    @invariant()
    def no_canary_leaks(self) -> None:  # I6
        REPORT["steps"] += 1
        written = [self.ci / STATUS, self.ci / FLAGS, self.ci / "customers/acme/lessons.yaml",
                   *(self.ci / FOLDER).glob("evidence/*.json"),
                   *(self.ci / FOLDER).glob("events/ailoop-*"),
                   *(self.ci / "customers/acme").glob("updates/*")]
        for path in written:
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace")
                for canary in CANARIES:
                    assert canary not in text, f"{canary} leaked into {path}"
        for out in self.outputs:
            for canary in CANARIES:
                assert canary not in out, f"{canary} leaked into the output"

    # --- plumbing ---------------------------------------------------------------------------

    def ailoop(self, clone: Path, *args: str) -> int:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-C", str(clone), *args])
        self.outputs.append(out.getvalue() + err.getvalue())
        return code

    def ailoop_text(self, clone: Path, *args: str) -> str:
        self.ailoop(clone, *args)
        return self.outputs[-1]

    def fingerprint_at(self, clone: Path) -> str:
        return evidence_id(clone, KEY)

    @staticmethod
    def read(clone: Path, rel: Path) -> str | None:
        path = clone / rel
        return path.read_text() if path.exists() else None

    def status(self, clone: Path) -> StatusBody:
        """The status as ailoop reads it (the product's own loader)."""
        if not (clone / STATUS).exists():
            return StatusBody()
        doc, findings = load_document(str(clone), str(STATUS))
        assert doc is not None, findings
        body: StatusBody = doc.model.status
        return body


LoopMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=list(HealthCheck))
test_the_loops_invariants_hold_on_random_histories = LoopMachine.TestCase


def test_zz_report_how_much_was_tried() -> None:
    """Prints how many histories and steps the machine tried (the note quotes it)."""
    print(f"loop machine: {REPORT}")
