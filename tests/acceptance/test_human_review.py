"""Human review of sampled outputs as a rollout gate, end to end on real git: a real dry
run, `ailoop sample`, labels committed with real SSH signatures, and the reconciler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.approvals.signed import SignedApprovals
from pipeline.model.project import ProjectSpec
from pipeline.reconcile.apply import ReconcileOptions, ReconcileResult, Sources, reconcile
from pipeline.reconcile.state import default_monitoring
from tests.acceptance.approvals_support import KEY, PRIORITY, approvals_repo, customer_yaml
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, pull, review, serve
from tests.support import GitRepo, commit_evidence, run_cli, signed_commit

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CANARY_NAME = "Zebulon Quartermaine"  # a personal value (redaction.fields) in one input
CANARY_MAIL = "zeb.quartermaine@mail.example"  # found by the e-mail detector
CASES = [
    {"id": "t1", "input": {"text": f"printer broken, write to {CANARY_MAIL}",
                           "customer": CANARY_NAME}, "expected": "it", "tags": ["hardware"]},
    {"id": "t2", "input": {"text": "refund please", "customer": "Ann"}, "expected": "billing",
     "tags": ["billing"]},
    {"id": "t3", "input": {"text": "refund for my printer", "customer": "Bo"},
     "expected": "it", "tags": ["billing"]},
    {"id": "t4", "input": {"text": "screen flickers", "customer": "Cy"}, "expected": "it",
     "tags": ["hardware"]},
    {"id": "t5", "input": {"text": "monitor dead", "customer": "Di"}, "expected": "it",
     "tags": ["hardware"]},
    {"id": "t6", "input": {"text": "hello", "customer": "Ed"}, "expected": "it"},
]
WORKFLOW = 'def run(input):\n    return "billing" if "refund" in input["text"] else "it"\n'
REVIEW = "customers/acme/triage/reviews"


def priority(sample: int, agreement: float) -> str:
    text = PRIORITY.format(name="triage", risk="medium")
    text = text.replace("inputData: {source: helpdesk}",
                        "inputData: {source: helpdesk, redaction: {fields: [customer]}}")
    text = text.replace("threshold: 0.9", "threshold: 0.5")
    text = text.replace("expectedOutput: {description: the queue name}",
                        "expectedOutput: {description: the queue name, format: text}")
    return text.replace("""        approvals:
          - role: customer-reviewer
      - name: canary""", f"""        approvals:
          - role: customer-reviewer
        humanReview: {{sample: {sample}, minAgreement: {agreement}}}
      - name: canary""", 1)


@pytest.fixture
def repo(tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> GitRepo:
    """Shadow needs a customer-reviewer's approval and 4 labelled outputs agreeing at 0.75;
    a trusted dry run of 6 cases (t3 fails: the workflow sends it to billing) is committed
    by the bot, and ann approved shadow."""
    return build(tmp_path, keys, capsys)


def build(tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
          traces: str = "") -> GitRepo:
    """The `repo` fixture; TRACES: ailoop.yaml's spec.monitoring.traces from the start."""
    from tests.acceptance.approvals_support import fill
    from tests.support import make_repo

    def filled(work: Path) -> None:
        fill(work, customer_yaml(keys["ann"], keys["raj"]), "medium")
        if traces:
            project = work / "ailoop.yaml"
            text = project.read_text()
            setting = f"  monitoring:\n    traces: {traces}\n"
            project.write_text(text.replace("spec:\n", "spec:\n" + setting, 1)
                               if "spec:\n" in text else text + "spec:\n" + setting)

    repo = make_repo(tmp_path, fill=filled)
    folder = repo.work / "customers/acme/triage"
    (folder / "priority.yaml").write_text(priority(4, 0.75))
    (folder / "dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    (folder / "workflow.py").write_text(WORKFLOW)
    repo.commit_all("Triage with a human review before shadow")
    ran = run_cli(capsys, "-C", str(repo.work), "dry-run", KEY, "--now", "2026-11-20T09:00Z")
    assert ran.code == 0, ran.out + ran.err
    commit_evidence(repo.work)
    approved = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                       "--key", str(keys["ann"]))
    assert approved.code == 0, approved.err
    return repo


def run(repo: GitRepo) -> ReconcileResult:
    root = str(repo.work)
    sources = Sources(SignedApprovals(root), default_monitoring(root, ProjectSpec()))
    return reconcile(ReconcileOptions(root, NOW), sources)


def triage(result: ReconcileResult) -> list[str]:
    return [f"{a.kind}: {a.reason}" for p in result.plan.priorities if p.key == KEY
            for a in p.actions]


def sample(capsys: pytest.CaptureFixture[str], repo: GitRepo, *extra: str) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(repo.work), "sample", KEY, "--stage", "shadow",
                     "--now", "2026-11-20T10:00Z", *extra)
    return result.code, result.out + result.err


def review_file(repo: GitRepo) -> Path:
    found = sorted((repo.work / REVIEW).glob("shadow-ev-*.yaml"))
    assert len(found) == 1
    return found[0]


def label(path: Path, labels: dict[str, str]) -> None:
    """Fill in the labels as a reviewer does in an editor: `label: null` -> the judgement."""
    lines = path.read_text().splitlines(keepends=True)
    case = ""
    for i, line in enumerate(lines):
        if line.lstrip().startswith("- caseId:"):
            case = line.split(":", 1)[1].strip()
        if line.strip() == "label: null" and case in labels:
            lines[i] = line.replace("null", labels[case])
    path.write_text("".join(lines))


def commit_review(repo: GitRepo, message: str, key: Path | None,
                  who: tuple[str, str] = ("Ann Example", "ann@acme.example")) -> None:
    repo.git("add", REVIEW)
    signed_commit(repo.work, message, key, who)

def promoted_with_every_output_labelled(capsys: pytest.CaptureFixture[str], repo: GitRepo,
                                        keys: dict[str, Path]) -> Path:
    """All 6 outputs sampled, labelled by ann (t3 wrong, as the dry run judged it) and the
    candidate promoted to shadow, verify passing; returns the review file."""
    assert sample(capsys, repo, "--n", "6")[0] == 0
    path = review_file(repo)
    label(path, {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    commit_review(repo, "Labels", keys["ann"])
    assert triage(run(repo))[0].startswith("promote:")
    assert run_cli(capsys, "-C", str(repo.work), "verify", KEY).code == 0
    return path



def test_sample_label_signed_by_the_role_promotes(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    assert triage(run(repo))[-1].startswith(
        "await-approval: holds: human review for stage shadow: no labelled sample of ev-")

    code, out = sample(capsys, repo)
    assert code == 0, out
    path = review_file(repo)
    assert out.startswith(f"wrote {path.relative_to(repo.work)}: 4 of 6 dry-run outputs, "
                          "stratified by first tag ((untagged) 1, billing 1, hardware 2), "
                          "drawn by the evidence id and stage; bound to evidence ev-")
    text = path.read_text()
    assert "kind: HumanReview" in text and text.count("- caseId:") == 4
    assert CANARY_NAME not in text and CANARY_MAIL not in text

    commit_review(repo, "Sample for shadow", keys["ann"])
    assert triage(run(repo))[-1] == (
        "await-approval: holds: human review for stage shadow: 0 of 4 outputs labelled; to "
        f"release: a customer-reviewer labels every output in {path.relative_to(repo.work)}")

    drawn = [line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.lstrip().startswith("- caseId:")]
    label(path, {c: "wrong" if c == "t3" else "correct" for c in drawn})
    plan = " ".join(run_cli(capsys, "-C", str(repo.work), "plan").out.split())
    assert f"the labels in {path.relative_to(repo.work)} do not count: it changed after " \
        "commit " in plan  # not committed yet: nobody signed these labels
    commit_review(repo, "Labels", keys["ann"])
    result = run(repo)
    promote = triage(result)[0]
    assert promote.startswith("promote: promotes v1.0 to shadow 0%: every gate holds")
    assert "human review of shadow by ann (customer-reviewer): 4 of 4 outputs agree" in promote
    message = repo.git("log", "-1", "--format=%B")
    assert "Ailoop-Human-Review: shadow ev-" in message
    assert "agreement 1.00 (4/4) by ann (customer-reviewer) (git-signed:" in message
    status = (repo.work / "customers/acme/triage/status.yaml").read_text()
    assert "4 of 4 outputs agree with the dry run" in status  # in the transition's reason

    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert "human review of shadow by ann (customer-reviewer): 4 of 4" in chain.out
    # the labels behind the promotion are drawn over: verify says the link is gone
    assert sample(capsys, repo, "--force")[0] == 0
    commit_review(repo, "Sample again", keys["ann"])
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 1
    assert "human review for stage shadow: 0 of 4 outputs labelled" in chain.out


@pytest.mark.parametrize(("signer", "who", "why"), [
    (None, ("Ann Example", "ann@acme.example"), "is not signed"),
    ("raj", ("Raj Example", "raj@acme.example"),
     "raj signed commit {sha} but does not hold the role customer-reviewer in "
     "customers/acme/customer.yaml"),
    ("eve", ("Ann Example", "ann@acme.example"),
     "is not signed with the signingKey of anyone in customers/acme/customer.yaml"),
])
def test_labels_count_only_when_signed_by_the_stage_role(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        tmp_path: Path, signer: str | None, who: tuple[str, str], why: str) -> None:
    """Attacks: unsigned labels in ann's name, a signer without the role, a key nobody in
    customer.yaml holds (the PR author's own)."""
    from tests.acceptance.approvals_support import keygen

    assert sample(capsys, repo)[0] == 0
    path = review_file(repo)
    commit_review(repo, "Sample for shadow", keys["ann"])  # ann signed the empty sample
    label(path, {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    key = {"raj": keys["raj"], "eve": keygen(tmp_path, "eve")}.get(signer or "")
    commit_review(repo, "Labels", key, who)
    sha = repo.git("rev-parse", "HEAD")[:12]
    reason = triage(run(repo))[-1]
    assert reason.startswith("await-approval: holds: human review for stage shadow: the "
                             f"labels in {path.relative_to(repo.work)} do not count: ")
    assert reason.endswith(why.format(sha=sha))
    if "{sha}" not in why:
        assert f"commit {sha}, which last changed it" in reason
    # ann signs the same labels (with a note): now they count
    path.write_text(path.read_text().replace("note: ''", "note: checked", 1))
    commit_review(repo, "Ann labels", keys["ann"])
    assert triage(run(repo))[0].startswith("promote:")


def test_disagreement_below_min_agreement_names_the_cases(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    assert sample(capsys, repo, "--n", "6")[0] == 0
    path = review_file(repo)
    # t1 and t2 passed but are judged wrong; t3 failed and is judged correct: 3 of 6 agree
    label(path, {"t1": "wrong", "t2": "wrong", "t3": "correct", "t4": "correct",
                 "t5": "correct", "t6": "correct"})
    commit_review(repo, "Labels", keys["ann"])
    assert triage(run(repo))[-1] == (
        "await-approval: holds: human review for stage shadow: agreement 0.50 < 0.75: cases "
        "t1, t2 judged wrong though the dry run passed them; case t3 judged correct though "
        "the dry run failed it (labelled by ann (customer-reviewer)); to release: fix what "
        "they found (a new candidate needs a new sample)")


def test_a_new_fingerprint_makes_the_review_stale(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    assert sample(capsys, repo)[0] == 0
    path = review_file(repo)
    old = path.name.removeprefix("shadow-").removesuffix(".yaml")
    label(path, {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    commit_review(repo, "Labels", keys["ann"])
    workflow = repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(WORKFLOW + "# refunds first\n")
    repo.commit_all("Refunds first")
    assert run_cli(capsys, "-C", str(repo.work), "dry-run", KEY).code == 0
    commit_evidence(repo.work)
    assert run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                   "--key", str(keys["ann"])).code == 0
    reason = triage(run(repo))[-1]
    assert f"human review for stage shadow: {REVIEW}/{path.name} labels evidence {old}, " \
        "the candidate is ev-" in reason
    assert reason.endswith(f"; to release: `ailoop sample {KEY} --stage shadow` again and "
                           "label the new sample")


def test_sample_refuses_what_it_cannot_do_well(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    code, out = sample(capsys, repo, "--n", "7")
    assert code == 2 and "cannot draw 7 outputs: the trusted dry run ev-" in out
    assert "holds 6; pass --n 6 or fewer" in out
    result = run_cli(capsys, "-C", str(repo.work), "sample", KEY, "--stage", "nope")
    assert result.code == 2 and "has no stage 'nope' (stages: shadow, canary, full)" in result.err
    assert sample(capsys, repo)[0] == 0
    code, out = sample(capsys, repo)
    assert code == 2 and "exists already (its labels would be lost); pass --force" in out
    assert sample(capsys, repo, "--force")[0] == 0
    # a dataset change the bot has no trusted run of: nothing to sample
    dataset = repo.work / "customers/acme/triage/dataset.jsonl"
    dataset.write_text(dataset.read_text() + json.dumps(
        {"id": "t7", "input": {"text": "x", "customer": "Fy"}, "expected": "it"}) + "\n")
    code, out = sample(capsys, repo)
    assert code == 2 and "no dry-run evidence for ev-" in out
    assert run_cli(capsys, "-C", str(repo.work), "dry-run", KEY).code == 0  # the PR's own run
    code, out = sample(capsys, repo)
    assert code == 2 and "is not from a trusted run" in out


def test_labelled_outputs_go_to_the_calibration_set(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    assert sample(capsys, repo, "--n", "6")[0] == 0
    path = review_file(repo)
    label(path, {"t1": "correct", "t3": "wrong"})
    target = repo.work / "judge/calibration.jsonl"
    target.parent.mkdir()
    target.write_text('{"id": "t1", "input": {}, "output": "it", "label": "correct", '
                      '"note": "older"}\n')
    args = ("-C", str(repo.work), "sample", KEY, "--stage", "shadow", "--to-calibration",
            "judge/calibration.jsonl")
    result = run_cli(capsys, *args)
    assert result.code == 0, result.err
    assert "appended 1 labelled outputs" in result.out
    assert "(1 already there, 4 not labelled)" in result.out
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t1", "t3"]
    assert rows[1] == {"id": "t3", "input": {"text": "refund for my printer",
                                             "customer": "[redacted:customer]"},
                       "output": "billing", "label": "wrong", "note": ""}
    assert run_cli(capsys, *args).out.startswith("appended 0 labelled outputs")
    # a rewritten output labelled correct would teach the judge a lie: nothing is appended
    before, sampled = target.read_text(), path.read_text()
    _rewrite(path, 3, output="it", label="correct")
    forged = run_cli(capsys, *args)
    assert forged.code == 2
    assert f"{path.relative_to(repo.work)}: not what `ailoop sample` drew: item 3 (case t3): " \
        "its output is not the trusted dry run's; nothing appended" in forged.err
    assert target.read_text() == before
    path.write_text(sampled)
    target.write_text("not json\n")
    broken = run_cli(capsys, *args)
    assert broken.code == 2 and "judge/calibration.jsonl:1" in broken.err
    assert target.read_text() == "not json\n"


def test_help_explains_sampling_labelling_and_calibration(
        capsys: pytest.CaptureFixture[str]) -> None:
    listing = run_cli(capsys, "--help").out
    assert "sample" in listing and "human review" in listing
    text = " ".join(run_cli(capsys, "sample", "--help").out.split())
    for words in ("reviews/<stage>-<evidenceId>.yaml", "stratified by first tag",
                  "humanReview: {sample: N, minAgreement: 0.9}", "a new fingerprint needs a "
                  "new sample", "--to-calibration FILE", "nobody picks", "--force",
                  "--from [dry-run|traces|both]", "a trace agrees when labelled correct"):
        assert words in text, words


def test_validate_names_file_line_and_field_of_a_bad_label(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    assert sample(capsys, repo)[0] == 0
    path = review_file(repo)
    text = path.read_text()
    path.write_text(text.replace("label: null", "label: maybe", 1))
    line = text.splitlines().index(next(x for x in text.splitlines()
                                        if x.strip() == "label: null")) + 1
    result = run_cli(capsys, "-C", str(repo.work), "validate")
    assert result.code == 1
    rel = path.relative_to(repo.work)
    assert f"{rel}:{line}:" in result.out and "spec.items[0].label" in result.out


# --- approvals.source: github: the merged pull request that last changed the review -------

PR = 12


def github_repo(tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
                fake: FakeGitHub, workflow_by: tuple[str, str] | None = None,
                ) -> tuple[GitRepo, str]:
    """eve (an engineer, the pull request's author) labelled the sample in pull request PR,
    which merged; ann approved shadow with her signed approval. Returns the PR's head.
    WORKFLOW_BY: who committed the workflow (name, e-mail); the test engineer by default."""
    repo = approvals_repo(tmp_path, customer_yaml(keys["ann"], keys["raj"]), risk="medium",
                          source="github")
    folder = repo.work / "customers/acme/triage"
    (folder / "priority.yaml").write_text(priority(4, 0.75))
    (folder / "dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    (folder / "workflow.py").write_text(WORKFLOW)
    if workflow_by is None:
        repo.commit_all("Triage with a human review before shadow")
    else:
        repo.git("add", "-A")
        signed_commit(repo.work, "Triage with a human review before shadow", None,
                      workflow_by)
    assert run_cli(capsys, "-C", str(repo.work), "dry-run", KEY).code == 0
    commit_evidence(repo.work)
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "labels")
    assert sample(capsys, repo)[0] == 0
    label(review_file(repo), {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    head = repo.commit_all("Labels for shadow")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "labels")
    fake.pulls[PR] = {**pull(PR, "eve-dev", head, base), "merged_at": "2026-11-20T11:00:00Z"}
    fake.commit_pulls[head] = [PR]
    assert run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                   "--key", str(keys["ann"])).code == 0
    return repo, head


@pytest.mark.parametrize("reviewers", [["eve-dev"], ["Ann-Acme"]])
def test_on_github_the_labels_need_the_role_to_approve_their_pull_request(
        tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, reviewers: list[str]) -> None:
    with serve(FakeGitHub()) as fake:
        repo, head = github_repo(tmp_path, keys, capsys, fake)
        fake.reviews[PR] = [review(i, login, "APPROVED", head)
                            for i, login in enumerate(reviewers, 1)]
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now",
                         "2026-11-20T12:00:00Z")
        plan = run_cli(capsys, "-C", str(repo.work), "plan").out
    assert result.code == 0, result.err
    if reviewers == ["eve-dev"]:  # only its author approved it: the labels are nobody's
        assert "promote" not in result.out
        assert f"pull request #{PR}, which last changed it, has no approval by a " \
            "customer-reviewer who did not write it" in plan.replace("\n", " ")
    else:
        assert f"promote {KEY} to shadow (0%)" in result.out
        assert f"(github:#{PR})" in repo.git("log", "-1", "--format=%B")


# --- forged items: the review file must hold what `ailoop sample` drew --------------------


def _items(path: Path) -> list[dict[str, object]]:
    import yaml

    items: list[dict[str, object]] = yaml.safe_load(path.read_text())["spec"]["items"]
    return items


def _rewrite(path: Path, number: int, **fields: object) -> None:
    """What a pull request's author can do to a sample before the reviewer sees it: change
    item NUMBER (1-based) in place, the rest of the file as `ailoop sample` wrote it."""
    import yaml

    data = yaml.safe_load(path.read_text())
    data["spec"]["items"][number - 1].update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.mark.parametrize(("field", "value", "why"), [
    ("output", "billing", "its output is not the trusted dry run's"),
    ("input", {"text": "refund please", "customer": "Bo"},
     "its input is not the trusted dry run's"),
    ("tags", ["billing"], "its tags are not the trusted dry run's"),
    ("automatedVerdict", "failed", "its automatedVerdict is not the trusted dry run's"),
    ("caseId", "t9", "case t9 is not in the trusted dry run {ev}"),
])
def test_a_forged_item_holds_the_gate_and_breaks_verify(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        field: str, value: object, why: str) -> None:
    """Attack: the author of a pull request rewrites a sampled item (here item 5, case t4,
    which the dry run passed) so that the reviewer sees something else and labels it
    correct. Every label is then signed by the right role: the gate still holds, naming
    the item, since the items are derived again from the trusted evidence and dataset."""
    assert sample(capsys, repo, "--n", "6")[0] == 0
    path = review_file(repo)
    ev = path.name.removeprefix("shadow-").removesuffix(".yaml")
    assert [i["caseId"] for i in _items(path)][4] == "t4"
    _rewrite(path, 5, **{field: value})
    label(path, {f"t{i}": "correct" for i in range(1, 10)} | {"t3": "wrong"})
    commit_review(repo, "Labels", keys["ann"])
    case = value if field == "caseId" else "t4"
    reason = triage(run(repo))[-1]
    assert reason == (
        f"await-approval: holds: human review for stage shadow: {REVIEW}/{path.name} is not "
        f"what `ailoop sample` drew from the trusted dry run {ev}: item 5 (case {case}): "
        f"{why.format(ev=ev)}; to release: `ailoop sample {KEY} --stage shadow --force` "
        "and label the new sample")
    assert "promote" not in " ".join(triage(run(repo)))


@pytest.mark.parametrize(("field", "value", "why"), [
    ("output", "billing", "(case t4): its output is not the trusted dry run's"),
    ("input", {"text": "x"}, "(case t4): its input is not the trusted dry run's"),
    ("tags", [], "(case t4): its tags are not the trusted dry run's"),
    ("caseId", "t9", "(case t9): case t9 is not in the trusted dry run"),
])
def test_verify_breaks_when_an_item_is_rewritten_after_the_promotion(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        field: str, value: object, why: str) -> None:
    path = promoted_with_every_output_labelled(capsys, repo, keys)
    _rewrite(path, 5, **{field: value})  # ann signs it again: the labels are hers, what
    commit_review(repo, "Reword", keys["ann"])  # they label is not the candidate's
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 1
    assert chain.out.startswith(f"{KEY}: BROKEN at human review: ")
    assert f"item 5 {why}" in chain.out


def test_the_same_case_twice_holds(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """Attack: every item replaced by a copy of one the dry run got right."""
    assert sample(capsys, repo, "--n", "6")[0] == 0
    path = review_file(repo)
    first = _items(path)[0]
    for number in range(2, 7):
        _rewrite(path, number, **first)
    assert first["caseId"] == "t6"  # the dry run passed it
    label(path, {"t6": "correct"})
    commit_review(repo, "Labels", keys["ann"])
    reason = triage(run(repo))[-1]
    assert "item 2 (case t6): case t6 is drawn twice" in reason
    assert "item 6 (case t6): case t6 is drawn twice" in reason


# --- traces: the candidate's shadow and production outputs ailoop-runtime recorded --------

TRACES = "production/traces.jsonl"


@pytest.fixture
def traced(tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
           ) -> tuple[GitRepo, str]:
    """The `repo` story with ailoop.yaml naming the traces file, and that file as
    ailoop-runtime's TraceStore writes it beside the service (not committed): three shadow
    runs and one production answer of the candidate (its evidence id), and traces that are
    not the candidate's. Returns the repo and the candidate's evidence id."""
    from ailoop_runtime.flags import Choice, FlagSource, Variant
    from ailoop_runtime.guard import Guard
    from ailoop_runtime.runtime import Runtime, TraceStore

    from pipeline.documents.evidence import fingerprint
    from pipeline.documents.load import load_priority

    repo = build(tmp_path, keys, capsys, TRACES)
    root = str(repo.work)
    ev = fingerprint(root, KEY, load_priority(root, KEY)).evidence_id
    (repo.work / "production").mkdir()
    store = TraceStore(str(repo.work / TRACES))
    flags = tmp_path / "flags.flagd.json"
    flags.write_text('{"flags": {}}\n')
    runtime = Runtime(FlagSource(str(flags)), KEY, {}, Guard({}, {}), traces=store,
                      clock=lambda: 1000.0)
    serving = Variant("0.9", "ev-0000000000000000", "d0")
    candidate = Variant("1.0", ev, "d1")
    older = Variant("1.0", "ev-1111111111111111", "d2")  # the same version, other code
    beside = Choice("serving", serving, candidate)
    for trace, request, served, shadow, agreement in [
            ("s1", {"text": f"toner gone, mail {CANARY_MAIL}"}, "it", "it", "agree"),
            ("s2", {"text": "refund my toner"}, "it", "billing", "disagree"),
            ("s3", {"text": "new laptop"}, "it", "it", "agree")]:
        store.add(runtime._trace(trace, "u", request, beside, served, shadow, agreement))
    store.add(runtime._trace("p1", "u", {"text": "refund"}, Choice("candidate", candidate),
                             "billing", None, ""))
    store.add(runtime._trace("x1", "u", {"text": "old"}, Choice("serving", serving, older),
                             "it", "it", "agree"))
    store.add(runtime._trace("x2", "u", {"text": "boom"}, beside, "it", None,
                             "KeyError: 'text'"))
    store.add(runtime._trace("x3", "u", {"text": "served"}, Choice("serving", serving),
                             "it", None, ""))
    runtime.close()
    return repo, ev


def test_trace_items_are_sampled_labelled_and_found_again(
        capsys: pytest.CaptureFixture[str], traced: tuple[GitRepo, str],
        keys: dict[str, Path]) -> None:
    repo, ev = traced
    code, out = sample(capsys, repo, "--from", "traces", "--n", "4")
    assert code == 0, out
    path = review_file(repo)
    assert path.name == f"shadow-{ev}.yaml"  # bound to the evidence id the traces carry
    assert "4 of 4 trace outputs of the candidate, stratified by source (production 1, " \
        "shadow 3), drawn by the evidence id and stage" in out
    items = _items(path)
    assert sorted((i["caseId"], i["source"], i["automatedVerdict"]) for i in items) == [
        ("p1", "production", "none"), ("s1", "shadow", "none"), ("s2", "shadow", "none"),
        ("s3", "shadow", "none")]
    assert CANARY_MAIL not in path.read_text()  # the priority's redactor
    assert next(i for i in items if i["caseId"] == "s2")["output"] == "billing"

    # a trace agrees when labelled correct: 3 of 4 reach 0.75
    label(path, {"s1": "correct", "s2": "wrong", "s3": "correct", "p1": "correct"})
    commit_review(repo, "Labels", keys["ann"])
    promote = triage(run(repo))[0]
    assert promote.startswith("promote:"), promote
    assert "3 of 4 outputs agree with the dry run or, for traces, are labelled correct " \
        "(0.75 >= 0.75" in promote

    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 0, chain.out
    # the traces file rotated: the labelled outputs cannot be found again
    (repo.work / TRACES).write_text("")
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 1
    assert f"(trace p1): trace p1 is not among the candidate's traces in {TRACES}" in chain.out


def test_both_sources_and_a_forged_trace_item(
        capsys: pytest.CaptureFixture[str], traced: tuple[GitRepo, str],
        keys: dict[str, Path]) -> None:
    repo, _ = traced
    code, out = sample(capsys, repo, "--from", "both", "--n", "10")
    assert code == 0, out
    assert "10 of 10 dry-run and trace outputs" in out
    path = review_file(repo)
    items = _items(path)
    assert {i["source"] for i in items} == {"dry-run", "shadow", "production"}
    number = next(n for n, i in enumerate(items, 1) if i["caseId"] == "s2")
    _rewrite(path, number, output="it")  # the shadow run's wrong answer made to look right
    label(path, {i["caseId"]: "correct" for i in items} | {"t3": "wrong"})  # type: ignore[misc]
    commit_review(repo, "Labels", keys["ann"])
    reason = triage(run(repo))[-1]
    assert f"item {number} (trace s2): its output is not the recorded trace's" in reason


def test_a_traces_file_a_pull_request_committed_does_not_count(
        capsys: pytest.CaptureFixture[str], traced: tuple[GitRepo, str],
        keys: dict[str, Path]) -> None:
    """Traces are production data the service writes, outside what a pull request can
    change: a traces file committed to the repository counts only as the bot committed it."""
    repo, _ = traced
    assert sample(capsys, repo, "--from", "traces", "--n", "4")[0] == 0
    path = review_file(repo)
    label(path, {"s1": "correct", "s2": "wrong", "s3": "correct", "p1": "correct"})
    repo.git("add", TRACES)
    commit_review(repo, "Labels and the traces", keys["ann"])
    reason = triage(run(repo))[-1]
    assert f"(trace p1): {TRACES} is committed, and not by the bot" in reason
    code, out = sample(capsys, repo, "--from", "traces", "--force")
    assert code == 2 and f"{TRACES} is committed, and not by the bot" in out


def test_sample_from_traces_refuses_what_it_cannot_do(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    code, out = sample(capsys, repo, "--from", "traces")
    assert code == 2 and "ailoop.yaml sets no spec.monitoring.traces" in out
    result = run_cli(capsys, "-C", str(repo.work), "sample", KEY, "--stage", "shadow",
                     "--from", "nope")
    assert result.code == 2 and "'nope' is not one of 'dry-run', 'traces', 'both'" in result.err


def test_sample_from_traces_without_the_file(
        capsys: pytest.CaptureFixture[str], traced: tuple[GitRepo, str]) -> None:
    repo, _ = traced
    (repo.work / TRACES).unlink()
    code, out = sample(capsys, repo, "--from", "traces")
    assert code == 2 and f"no traces file {TRACES}" in out
    (repo.work / TRACES).write_text("")
    code, out = sample(capsys, repo, "--from", "traces", "--n", "5")
    assert code == 2 and "cannot draw 5 outputs: " in out and "holds 0" in out


# --- long stage names: the file name and metadata.name stay valid ---------------------

LONG = "shadow-for-the-north-european-support-desks-in-the-evening-shift"  # 64 characters


def test_a_long_stage_name_gets_a_short_valid_review_name(
        tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """metadata.name is at most 63 characters: '<stage>-<evidenceId>' is over it from a
    44-character stage on, so the stage is cut and a digest of it keeps names apart."""
    import yaml

    repo = build(tmp_path, keys, capsys)
    spec = repo.work / "customers/acme/triage/priority.yaml"
    spec.write_text(spec.read_text().replace("- name: shadow", f"- name: {LONG}"))
    repo.commit_all("A longer stage name")
    assert run_cli(capsys, "-C", str(repo.work), "dry-run", KEY).code == 0
    commit_evidence(repo.work)
    assert run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", LONG,
                   "--key", str(keys["ann"])).code == 0
    result = run_cli(capsys, "-C", str(repo.work), "sample", KEY, "--stage", LONG)
    assert result.code == 0, result.err
    (path,) = (repo.work / REVIEW).glob("*.yaml")
    doc = yaml.safe_load(path.read_text())
    name = doc["metadata"]["name"]
    assert path.name == f"{name}.yaml" and len(name) <= 63
    assert doc["spec"]["stage"] == LONG and name.startswith(LONG[:30])
    assert run_cli(capsys, "-C", str(repo.work), "validate").code == 0
    label(path, {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    repo.git("add", REVIEW)
    signed_commit(repo.work, "Labels", keys["ann"], ("Ann Example", "ann@acme.example"))
    assert triage(run(repo))[0].startswith(f"promote: promotes v1.0 to {LONG} 0%")
    # a broken file under that name is still this stage's review, and says so
    path.write_text(path.read_text().replace("    label: correct", "    label: maybe", 1))
    repo.git("add", REVIEW)
    signed_commit(repo.work, "Break it", keys["ann"], ("Ann Example", "ann@acme.example"))
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 1
    assert f"human review for stage {LONG}: {REVIEW}/{path.name} cannot be used (" \
        in " ".join(chain.out.split())


def test_a_hand_picked_sample_holds(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """Attack: the author of a pull request keeps only the genuine outputs the dry run got
    right (here: every case but t3, which it routes to billing), so the review shows no
    output the checks misjudged. Each item is the trusted run's, field for field; the draw
    is not: the evidence id and stage fix which outputs `ailoop sample` draws."""
    import yaml

    assert sample(capsys, repo)[0] == 0
    drawn = sorted(str(i["caseId"]) for i in _items(review_file(repo)))
    assert sample(capsys, repo, "--force", "--n", "6")[0] == 0
    path = review_file(repo)
    data = yaml.safe_load(path.read_text())
    picked = [i for i in data["spec"]["items"] if i["caseId"] != "t3"]
    picked = [i for i in picked if i["caseId"] not in drawn][:1] + \
        [i for i in picked if i["caseId"] in drawn][:3]
    assert sorted(i["caseId"] for i in picked) != drawn
    data["spec"]["items"] = picked
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    label(path, {f"t{i}": "correct" for i in range(1, 10)})
    commit_review(repo, "Labels", keys["ann"])
    reason = triage(run(repo))[-1]
    assert "is not what `ailoop sample` drew from the trusted dry run ev-" in reason
    assert ": it is not among the outputs `ailoop sample` draws for ev-" in reason
    assert "and stage shadow (the evidence id fixes the draw, so nobody picks the outputs " \
        "to show); to release: `ailoop sample acme/triage --stage shadow --force`" in reason

    # the sample as drawn, labelled the same way, promotes
    assert sample(capsys, repo, "--force")[0] == 0
    label(review_file(repo), {f"t{i}": "correct" for i in range(1, 10)} | {"t3": "wrong"})
    commit_review(repo, "Labels of the drawn sample", keys["ann"])
    assert triage(run(repo))[-1].startswith("promote: ")


def complaint(repo: GitRepo, name: str, cases: list[str],
              at: str = "2026-11-20T09:30:00Z") -> None:
    folder = repo.work / "customers/acme/triage/events"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        f"apiVersion: ailoop.dev/v1\nkind: Feedback\nmetadata:\n  name: {name}\nspec:\n"
        f"  author: ann\n  time: {at}\n  sentiment: negative\n"
        f"  text: my refund question went to the wrong queue\n  caseIds: {cases}\n")
    repo.commit_all(f"Feedback {name}")


def test_cases_negative_feedback_names_are_always_shown(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """A customer's negative feedback names cases (caseIds): every sample shows them to the
    reviewers on top of the N drawn, and a sample drawn before the feedback no longer counts."""
    assert sample(capsys, repo)[0] == 0
    before = sorted(str(i["caseId"]) for i in _items(review_file(repo)))
    assert "t5" not in before
    label(review_file(repo), {f"t{i}": "correct" for i in range(1, 10)} | {"t3": "wrong"})
    commit_review(repo, "Labels", keys["ann"])

    complaint(repo, "fb-monitor", ["t5", "t99"])  # t99: not a case of this run
    reason = triage(run(repo))[-1]
    assert "it does not show the case(s) negative feedback names: t5 (fb-monitor); draw " \
        "again with `ailoop sample acme/triage --force`" in reason, reason

    code, out = sample(capsys, repo, "--force")
    assert code == 0, out
    assert "1 named by negative feedback (fb-monitor: t5) and 4 of 5 dry-run outputs" in out
    items = [str(i["caseId"]) for i in _items(review_file(repo))]
    assert items[0] == "t5" and len(items) == 5 and len(set(items)) == 5
    label(review_file(repo), {f"t{i}": "correct" for i in range(1, 10)} | {"t3": "wrong"})
    commit_review(repo, "Labels with the complaint's case", keys["ann"])
    assert triage(run(repo))[-1].startswith("promote: ")

    # feedback given after the candidate entered the stage was not there to be shown:
    # verify judges the promotion as it was made
    unshown = sorted({f"t{i}" for i in range(1, 7)} - set(items))
    complaint(repo, "fb-later", unshown[:1], at="2026-11-20T13:00:00Z")
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert "human review of shadow by ann (customer-reviewer): 5 of 5" in chain.out, chain.out


def test_verify_reads_the_dataset_the_review_is_bound_to(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """The review is bound to the trusted evidence, so its items are derived again from the
    dataset and priority of the commit that recorded that evidence: a dataset edit on main
    after the promotion (a new candidate in progress) leaves the promoted candidate's link
    whole; a rewritten review file still breaks it."""
    path = promoted_with_every_output_labelled(capsys, repo, keys)

    folder = repo.work / "customers/acme/triage"
    edited = [{**c, "input": {**c["input"], "text": f"{c['input']['text']} (reworded)"}}
              if c["id"] == "t4" else c for c in CASES]  # type: ignore[dict-item]
    (folder / "dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in edited))
    spec = folder / "priority.yaml"  # and a redaction setting the sample did not have
    spec.write_text(spec.read_text().replace("redaction: {fields: [customer]}",
                                             "redaction: {fields: [customer, text]}"))
    repo.commit_all("Reword case t4 (the next candidate)")
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert "human review of shadow by ann (customer-reviewer): 6 of 6" in chain.out, chain.out
    assert "BROKEN" not in chain.out

    _rewrite(path, 5, output="billing")  # ann signs it again: what she labels is forged
    commit_review(repo, "Reword", keys["ann"])
    chain = run_cli(capsys, "-C", str(repo.work), "verify", KEY)
    assert chain.code == 1
    assert chain.out.startswith(f"{KEY}: BROKEN at human review: ")
    assert "item 5 (case t4): its output is not the trusted dry run's" in chain.out


def test_status_and_plan_show_how_far_the_review_got(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    assert sample(capsys, repo)[0] == 0
    path = review_file(repo)
    first = _items(path)[0]["caseId"]
    label(path, {str(first): "correct"})
    commit_review(repo, "One label", keys["ann"])
    table = run_cli(capsys, "-C", str(repo.work), "status", "--now", "2026-11-20T12:00Z")
    assert "await-approval: human review for shadow: 1 of 4 labelled" in table.out, table.out
    (entry,) = json.loads(run_cli(capsys, "-C", str(repo.work), "status", KEY, "--format",
                                  "json", "--now", "2026-11-20T12:00Z").out)["priorities"]
    assert entry["humanReview"] == {"stage": "shadow", "labelled": 1, "total": 4,
                                    "sample": 4, "agreement": None, "minAgreement": 0.75}
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--format", "json",
                   "--now", "2026-11-20T12:00Z")
    (planned,) = [p for p in json.loads(plan.out)["priorities"] if p["priority"] == KEY]
    assert planned["humanReview"] == entry["humanReview"]
    text = run_cli(capsys, "-C", str(repo.work), "plan", "--now", "2026-11-20T12:00Z").out
    assert f"{KEY}: human review for shadow: 1 of 4 labelled\n" in text


def test_a_dataset_slipped_in_where_the_evidence_was_last_touched_is_refused(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    """Attack: the items are derived from the commit that last wrote the evidence. An author
    edits the evidence file in one commit and restores it in the next, together with a
    dataset of their own: that commit is now the last to write it, and the evidence is
    again what the bot wrote. The sample and the gate check the dataset and spec there
    against the evidence's digests, and refuse."""
    folder = repo.work / "customers/acme/triage"
    evidence = next((folder / "evidence").glob("ev-*[0-9a-f].json"))
    original = evidence.read_bytes()
    evidence.write_bytes(original + b" ")
    repo.commit_all("Touch the evidence")
    evidence.write_bytes(original)
    forged = [{**c, "input": {"text": "refund please", "customer": "Ann"}} for c in CASES]
    dataset = folder / "dataset.jsonl"
    honest = dataset.read_bytes()
    dataset.write_text("".join(json.dumps(c) + "\n" for c in forged))
    repo.commit_all("Restore the evidence")
    dataset.write_bytes(honest)  # the work tree is honest again: the fingerprint matches
    repo.commit_all("Restore the dataset")
    code, out = sample(capsys, repo)
    assert code != 0
    assert "is not the dataset the trusted run ev-" in " ".join(out.split()), out
