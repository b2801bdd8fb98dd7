from __future__ import annotations

import pytest

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.providers.base import EXCEPTION, NO_RECORDING
from pipeline.providers.replay import ReplayProvider, parse_recordings

RECORDED = b'''{"id": "a", "output": {"x": 1}, "latencyMs": 12.5}
{"id": 2, "error": "ValueError: boom"}
'''


def test_replays_outputs_errors_and_missing_cases() -> None:
    p = ReplayProvider(parse_recordings(RECORDED, "r.jsonl"), "r.jsonl", "1")
    a = p.run(Case(id="a", input={}))
    assert (a.output, a.latency_ms) == ({"x": 1}, 12.5)
    two = p.run(Case(id="2", input={}))
    assert (two.fault, two.reason) == (EXCEPTION, "ValueError: boom")
    gone = p.run(Case(id="z", input={}))
    assert (gone.fault, gone.reason) == (NO_RECORDING,
                                         "r.jsonl has no recorded output for this case")
    assert p.describe() == {"name": "replay", "file": "r.jsonl", "version": "1"}


def test_bad_recordings_name_the_line() -> None:
    with pytest.raises(InputError) as err:
        parse_recordings(b'{"id": "a", "output": 1}\n{"id": "b"}\n', "r.jsonl")
    assert str(err.value) == "r.jsonl:2:1: each line needs an 'output' or an 'error'"
    with pytest.raises(InputError, match=r"r.jsonl:1:\d+: line is not valid JSON"):
        parse_recordings(b"{nope\n", "r.jsonl")
