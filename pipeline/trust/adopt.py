"""Adoption: which status files the bot may vouch for when a repository that ran ailoop
before the bot key existed sets the key up.

Such files were written by an older ailoop that signed nothing, so the trust check refuses
them all. The bot signs them once (`ailoop adopt`), but only those whose last change on the
first-parent history came no later than the commit that first set `spec.bot.signingKey`:
from that commit on, every status change must be a signed bot commit, so an edit made
after it is a hand edit and stays refused. A file with uncommitted changes is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import git
from pipeline.documents.layout import PROJECT_FILE
from pipeline.documents.load import load_document
from pipeline.errors import InputError
from pipeline.trust.status import untrusted_statuses


@dataclass(frozen=True)
class Candidate:
    """An untrusted status file, and whether the bot may adopt it (else why not)."""

    path: str
    refused: str = ""  # empty: adoptable


def key_commit(root: str) -> str:
    """The first commit on HEAD's first-parent history whose ailoop.yaml names a bot key;
    InputError when HEAD's names none."""
    commits = git.first_parent_commits(root, "HEAD", PROJECT_FILE)
    if not commits or not _has_key(root, commits[-1]):
        raise InputError(f"{PROJECT_FILE} on HEAD has no spec.bot.signingKey: set up the bot "
                         "key first (README.md, 'The bot identity')")
    first = commits[-1]
    for sha in reversed(commits[:-1]):  # the newest run of commits that all name a key
        if not _has_key(root, sha):
            break
        first = sha
    return first


def _has_key(root: str, sha: str) -> bool:
    raw = git.read_file_at(root, sha, PROJECT_FILE)
    if raw is None:
        return False
    doc, _ = load_document(root, PROJECT_FILE, raw=raw)
    return doc is not None and bool(doc.model.spec.bot.signing_key)


def candidates(root: str, paths: list[str]) -> list[Candidate]:
    """The untrusted ones among the status PATHS, each adoptable or refused with why."""
    key = key_commit(root)
    found = untrusted_statuses(root, paths)
    dirty = {p for p, _ in git.dirty_paths(root, [f":(literal){p}" for p in found])}
    out = []
    for path in sorted(found):
        last = git.first_parent_commits(root, "HEAD", path)
        if path in dirty:
            out.append(Candidate(path, "it has changes that are not committed; commit or "
                                 f"discard them (git checkout HEAD -- {path})"))
        elif not last:
            out.append(Candidate(path, "it is not in HEAD's history"))
        elif not git.is_ancestor(root, last[-1], key):
            out.append(Candidate(path, f"last changed by commit {last[-1][:7]}, after the bot "
                                 f"key was set up (commit {key[:7]}); revert that change"))
        else:
            out.append(Candidate(path))
    return out
