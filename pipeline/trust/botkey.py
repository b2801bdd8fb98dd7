"""The bot's SSH signing key: its public half is `spec.bot.signingKey` in ailoop.yaml, its
private half a file named by AILOOP_BOT_SIGNING_KEY (in CI: a secret of a protected
environment that only default-branch jobs can use). Every commit of a state change is
signed with it; status.yaml is trusted only when such a commit wrote it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline.errors import ExternalError, InputError

if TYPE_CHECKING:  # pydantic and the models: only once a document is parsed
    from pipeline.model.project import BotIdentity

KEY_ENV = "AILOOP_BOT_SIGNING_KEY"
PRINCIPAL = "ailoop-bot"
SETUP = ("See README.md, 'The bot identity': `ailoop init` generates the pair; the private "
         f"half is the CI secret {KEY_ENV}, written to a file whose path the job puts in "
         f"{KEY_ENV}.")


def key_body(line: str) -> str:
    """'type base64' of an OpenSSH public key line (the comment dropped)."""
    return " ".join(line.split()[:2])


def allowed_signers(bot: BotIdentity) -> str:
    """The allowed-signers file for git: the bot's key and the keys it had before."""
    keys = [k for k in (bot.signing_key, *bot.previous_signing_keys) if k]
    return "".join(f'{PRINCIPAL} namespaces="git" {key_body(k)}\n' for k in keys)


def signing_key_path(bot: BotIdentity, environ: Mapping[str, str]) -> str:
    """The path of the bot's private key, checked against ailoop.yaml's public key;
    InputError saying how to set it up when anything is missing or does not match."""
    if not bot.signing_key:
        raise InputError("a state change must be committed, but ailoop.yaml has no "
                         "spec.bot.signingKey (the bot's SSH public key), so no commit could "
                         f"be trusted. {SETUP}", path="ailoop.yaml")
    path = environ.get(KEY_ENV, "")
    if not path:
        raise InputError(f"a state change must be committed, but {KEY_ENV} is not set: set it "
                         f"to the path of the bot's SSH private key. {SETUP}")
    path = os.path.abspath(os.path.expanduser(path))
    public = public_key_of(path)
    if key_body(public) != key_body(bot.signing_key):
        raise InputError(f"the key {KEY_ENV} names is not the bot's: its public half is not "
                         f"ailoop.yaml's spec.bot.signingKey. Use the private half of that "
                         f"key, or rotate the key. {SETUP}")
    return path


def public_key_of(private_path: str) -> str:
    """The public key line of an SSH private key file (ssh-keygen -y)."""
    try:
        with open(private_path, "rb"):
            pass
    except OSError as e:
        raise InputError(f"{KEY_ENV} names a file that cannot be read "
                         f"({e.strerror or e}). {SETUP}") from None
    proc = _ssh_keygen("-y", "-P", "", "-f", private_path)  # never a passphrase prompt
    if proc.returncode != 0:
        lines = proc.stderr.replace(private_path, "the file").strip().splitlines()
        why = lines[-1] if lines else f"exit {proc.returncode}"
        if "UNPROTECTED" in proc.stderr or "bad permissions" in proc.stderr:
            raise InputError(f"{KEY_ENV} names a file others may read, so ssh-keygen "
                             f"refuses it: chmod 600 it. {SETUP}")
        raise InputError(f"{KEY_ENV} names a file that is not an SSH private key without a "
                         f"passphrase ({why}). {SETUP}")
    return proc.stdout.strip()


def generate_key_pair(private_path: str, comment: str = PRINCIPAL) -> str:
    """A new ed25519 key pair: the private key at PRIVATE_PATH (mode 600), the public key
    line returned (no .pub file is left behind)."""
    proc = _ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", private_path)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise ExternalError(f"ssh-keygen could not make the bot key: "
                            f"{lines[-1] if lines else proc.returncode}")
    with open(private_path + ".pub", encoding="utf-8") as fh:
        public = fh.read().strip()
    os.unlink(private_path + ".pub")
    return public


def _ssh_keygen(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["ssh-keygen", *args], capture_output=True, text=True,
                              timeout=60, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ExternalError("ssh-keygen was not found: install OpenSSH (the bot signs its "
                            "commits with an SSH key)") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExternalError(f"ssh-keygen failed: {e}") from None
