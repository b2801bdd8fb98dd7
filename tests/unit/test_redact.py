from __future__ import annotations

from pipeline.documents.dataset import Case
from pipeline.redact import build_redactor, iban_valid, luhn_valid


def test_validators() -> None:
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_detectors_and_personal_fields() -> None:
    cases = [Case(id="1", input={"sender": "Hannah Meyer", "policy": {"no": "PN-4471"}})]
    r = build_redactor(cases, ["sender", "policy.no"])
    text = ("HANNAH MEYER (hannah.meyer@example.com, +49 171 1234567, 0171 1234567) "
            "policy pn-4471 IBAN DE89 3704 0044 0532 0130 00 card 4111-1111-1111-1111")
    assert r.text(text) == (
        "[redacted:sender] ([redacted:email], [redacted:phone], [redacted:phone]) "
        "policy [redacted:no] IBAN [redacted:iban] card [redacted:card]")


def test_things_that_only_look_personal_are_kept() -> None:
    r = build_redactor([], [])
    kept = ("created 2026-11-20T09:00:00Z, amount 1250.00, card 4111 1111 1111 1112, "
            "ev-0961978dced16fcf")
    assert r.text(kept) == kept


def test_deep_redacts_keys_and_values_and_detector_choice() -> None:
    r = build_redactor([], [], detectors=["email"])
    assert r.deep({"a@b.example": ["x@y.example", 1, None]}) == {
        "[redacted:email]": ["[redacted:email]", 1, None]}
    assert r.text("+49 171 1234567") == "+49 171 1234567"


def test_short_values_only_match_whole_words_and_secrets_are_redacted() -> None:
    r = build_redactor([Case(id="1", input={"initials": "Jo"})], ["initials"],
                       secrets=["sk-live-123"])
    assert r.text("Jo wrote to John with sk-live-123") == (
        "[redacted:initials] wrote to John with [redacted:secret]")


def test_a_value_the_team_wrote_in_the_open_is_not_personal() -> None:
    """'refund' in a message of the refund-requests priority: the update's title stays
    readable; a name in the same field is still masked."""
    cases = [Case("c1", {"message": "refund"}, None, (), False, 1),
             Case("c2", {"message": "Ann Example"}, None, (), False, 2)]
    r = build_redactor(cases, ["message"], public=["refund requests", "Refunds, fast."])
    assert r.text("Refund requests for Ann Example") == \
        "Refund requests for [redacted:message]"
    assert build_redactor(cases, ["message"]).text("Refund requests") == \
        "[redacted:message] requests"


def test_a_short_commit_id_of_digits_is_not_a_phone_number() -> None:
    r = build_redactor([], [])
    assert r.text("last changed by commit 0695066 (ailoop-bot)") == \
        "last changed by commit 0695066 (ailoop-bot)"
    assert r.text("call 017112345678 or 030 1234567") == \
        "call [redacted:phone] or [redacted:phone]"


def test_a_commit_id_is_not_an_iban_however_its_checksum_falls() -> None:
    r = build_redactor([], [])
    text = "governance change cf348e6eecdb landed without a policy owner's approval"
    assert r.text(text) == text
    assert r.text("pay to DE89 3704 0044 0532 0130 00 now") == "pay to [redacted:iban] now"
