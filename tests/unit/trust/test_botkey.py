"""pipeline.trust.botkey: the bot's key pair, and what is said when it cannot be used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.model.project import BotIdentity
from pipeline.trust.botkey import allowed_signers, generate_key_pair, signing_key_path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "bot"
    return key, generate_key_pair(str(key))


def test_the_private_half_matching_ailoop_yaml_is_used(pair: tuple[Path, str]) -> None:
    key, public = pair
    assert public.startswith("ssh-ed25519 ") and public.endswith(" ailoop-bot")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    bot = BotIdentity(signingKey=public)
    assert signing_key_path(bot, {"AILOOP_BOT_SIGNING_KEY": str(key)}) == str(key)


def test_a_key_others_may_read_is_refused_with_the_fix(pair: tuple[Path, str]) -> None:
    key, public = pair
    os.chmod(key, 0o644)
    with pytest.raises(InputError, match=r"names a file others may read, so ssh-keygen "
                                         r"refuses it: chmod 600 it\."):
        signing_key_path(BotIdentity(signingKey=public), {"AILOOP_BOT_SIGNING_KEY": str(key)})


def test_a_key_with_a_passphrase_is_refused_without_a_prompt(tmp_path: Path) -> None:
    import subprocess

    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)],
                   check=True)
    public = (tmp_path / "locked.pub").read_text().strip()
    with pytest.raises(InputError, match=r"not an SSH private key without a passphrase \(Load "
                                         r"key \"the file\": incorrect passphrase"):
        signing_key_path(BotIdentity(signingKey=public), {"AILOOP_BOT_SIGNING_KEY": str(key)})


def test_the_allowed_signers_hold_the_bot_key_and_the_previous_ones(
        pair: tuple[Path, str]) -> None:
    _, public = pair
    old = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old-bot"
    bot = BotIdentity(signingKey=public, previousSigningKeys=[old])
    body = " ".join(public.split()[:2])
    assert allowed_signers(bot) == (f'ailoop-bot namespaces="git" {body}\n'
                                    'ailoop-bot namespaces="git" ssh-ed25519 '
                                    'AAAAC3NzaC1lZDI1NTE5AAAAIOld\n')
