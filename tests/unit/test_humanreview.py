"""The pure parts of human review: how a sample is drawn, and how labels are judged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.humanreview.sample import Output, allocate, draw
from pipeline.humanreview.verdict import LabelledItem, ReviewView, Setting, judge

EV = "ev-0123456789abcdef"


def test_allocate_gives_each_tag_one_then_the_rest_in_proportion() -> None:
    assert allocate({"billing": 10, "hardware": 30, "other": 2}, 10) == \
        {"billing": 3, "hardware": 6, "other": 1}
    assert allocate({"a": 5, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1}  # too few for all
    assert allocate({"a": 3}, 3) == {"a": 3}


@given(st.dictionaries(st.sampled_from("abcdefg"), st.integers(1, 20), min_size=1),
       st.integers(1, 200))
def test_allocate_draws_exactly_n_within_each_stratum(sizes: dict[str, int], n: int) -> None:
    n = min(n, sum(sizes.values()))
    take = allocate(sizes, n)
    assert sum(take.values()) == n
    assert all(0 < take[s] <= sizes[s] for s in take)
    if n >= len(sizes):
        assert set(take) == set(sizes)


def test_draw_is_reproducible_with_a_seed() -> None:
    pool = [Output(f"c{i:02}", (("x",) if i % 3 else ()), "dry-run", None, None, True)
            for i in range(30)]
    first = [o.case_id for o in draw(pool, 7, seed=4)]
    assert first == [o.case_id for o in draw(list(reversed(pool)), 7, seed=4)]
    assert len(set(first)) == 7


def view(labels: dict[str, str | None], passed: dict[str, bool], **kw: object) -> ReviewView:
    items = tuple(LabelledItem(c, label, passed.get(c)) for c, label in labels.items())
    fields: dict[str, object] = {"labellers": ("ann (customer-reviewer)",),
                                 "source": "git-signed:abc"} | kw
    return ReviewView("r.yaml", "canary", EV, items, **fields)  # type: ignore[arg-type]


def test_judge_passes_agreeing_labels_and_names_disagreement() -> None:
    setting = Setting(3, 0.9)
    passed = {"a": True, "b": True, "c": False}
    ok = judge("x/y", "canary", setting, [view({"a": "correct", "b": "correct",
                                                 "c": "wrong"}, passed)], EV)
    assert ok.passed and ok.trailer == \
        f"canary {EV} agreement 1.00 (3/3) by ann (customer-reviewer) (git-signed:abc)"
    bad = judge("x/y", "canary", setting, [view({"a": "wrong", "b": "correct",
                                                  "c": "wrong"}, passed)], EV)
    assert not bad.passed
    assert bad.reason.startswith("human review for stage canary: agreement 0.67 < 0.90: "
                                 "case a judged wrong though the dry run passed it")


def test_judge_fails_closed() -> None:
    setting = Setting(2, 0.5)
    labels = {"a": "correct", "b": "correct"}
    passed = {"a": True, "b": True}

    def reason(*reviews: ReviewView) -> str:
        verdict = judge("x/y", "canary", setting, reviews, EV)
        assert not verdict.passed
        return verdict.reason

    assert reason().endswith("no labelled sample of ev-0123456789abcdef; to release: "
                             "`ailoop sample x/y --stage canary`, then a reviewer labels "
                             "every output")
    assert "labels evidence ev-old" in reason(ReviewView("r.yaml", "canary", "ev-old"))
    assert "cannot be used (broken)" in reason(view(labels, passed, problem="broken"))
    assert "do not count: unsigned" in reason(view(labels, passed, labellers=(),
                                                   untrusted="unsigned"))
    assert "1 of 2 outputs labelled" in reason(view({"a": "correct", "b": None}, passed))
    assert "holds 1 outputs, the stage asks for 2" in reason(view({"a": "correct"}, passed))
    forged = view(labels, passed)
    forged = ReviewView(forged.path, forged.stage, EV, (
        forged.items[0], LabelledItem("b", "correct", True, "its output is not the trusted "
                                      "dry run's")), forged.labellers, forged.source)
    assert reason(forged) == ("human review for stage canary: r.yaml is not what `ailoop "
                              f"sample` drew from the trusted dry run {EV}: item 2 (case b): "
                              "its output is not the trusted dry run's; to release: `ailoop "
                              "sample x/y --stage canary --force` and label the new sample")
    twice = view(labels, passed)
    twice = ReviewView("r.yaml", "canary", EV, (twice.items[0], twice.items[0]),
                       twice.labellers, twice.source)
    assert "item 2 (case a): case a is drawn twice; to release" in reason(twice)


def test_a_trace_agrees_when_labelled_correct() -> None:
    """A trace has no automated verdict (passed None): agreement is its label, over all
    items together with the dry-run ones."""
    items = (LabelledItem("a", "correct", True), LabelledItem("s1", "correct", None,
                                                               kind="trace"),
             LabelledItem("s2", "wrong", None, kind="trace"))
    review = ReviewView("r.yaml", "canary", EV, items, ("ann (customer-reviewer)",), "file")
    ok = judge("x/y", "canary", Setting(3, 0.6), [review], EV)
    assert ok.passed and "2 of 3 outputs agree with the dry run or, for traces, are " \
        "labelled correct (0.67 >= 0.60" in ok.reason
    held = judge("x/y", "canary", Setting(3, 0.9), [review], EV)
    assert not held.passed and "agreement 0.67 < 0.90: trace s2 judged wrong" in held.reason
    twice = ReviewView("r.yaml", "canary", EV, (items[1], items[1], items[0]),
                       ("ann (customer-reviewer)",), "file")
    assert "item 2 (trace s1): trace s1 is drawn twice" in \
        judge("x/y", "canary", Setting(3, 0.6), [twice], EV).reason


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,200}[a-z0-9])?", fullmatch=True))
def test_review_names_are_valid_names_for_every_stage_name(stage: str) -> None:
    from pipeline.documents.layout import review_name
    from pipeline.model.base import Metadata

    name = review_name(stage, EV)
    assert Metadata(name=name).name == name  # the Name pattern and its 63 characters
    assert name.endswith(EV)
    if len(stage) <= 43:
        assert name == f"{stage}-{EV}"  # short names stay as they were
    else:
        assert review_name(stage + "x", EV) != name  # the digest keeps long ones apart
