"""Whether a bot-written file is what a trusted bot commit wrote (DESIGN.md, "Trust").

The reconciler writes status.yaml; the commit job of a trusted run writes evidence
(evidence/*.json and its *.intoto.json). Such a file is trusted when the work tree holds
exactly HEAD's content and the last commit that changed it, walking HEAD's first-parent
history (a merged pull request shows up as its merge commit), is signed with a bot key that
HEAD's ailoop.yaml lists. An author name or e-mail never counts. One extension, the release
path of a hand edit: when the file is byte for byte what the newest trusted bot commit that
touched it left (the edit was reverted), it is trusted again. Replaying an older
bot-written content differs from the newest one, so it stays untrusted. A file deleted by
anything but the bot is untrusted too; one that never existed is nothing to trust.

Cost: `git status` and `git ls-files` for the work tree (no walk for untracked files), one
first-parent `git log` for every asked path (it stops as soon as each has its newest change,
or for a missing one at the commit that added its priority), one signature check per
distinct commit found. Only untrusted paths walk further, to the newest trusted bot commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline import git
from pipeline.documents.layout import (
    CUSTOMERS,
    PRIORITY_FILE,
    PROJECT_FILE,
    STATUS_FILE,
    priority_dir,
    priority_of,
)
from pipeline.fsio import write_atomic
from pipeline.trust.botkey import allowed_signers

if TYPE_CHECKING:  # pydantic and the models: only once a document is parsed
    from pipeline.model.project import BotIdentity

STATUS_RULE = "status.yaml is written by the reconciler only"
EVIDENCE_RULE = "evidence counts only from a trusted run"
GOOD = "G"  # git's %G?: a good signature by a key of the allowed signers
_LITERAL_MAX = 64  # more paths than this: one glob pathspec per kind, filtered
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def rule_of(path: str) -> str:
    """The rule a bot-written file breaks when the bot did not write it."""
    if path.rsplit("/", 1)[-1] == STATUS_FILE:
        return STATUS_RULE
    if "/evidence/" in path:
        return EVIDENCE_RULE
    return f"{path} is written by the ailoop bot only"


@dataclass(frozen=True)
class Untrusted:
    """A bot-written file the reconciler must not act on (or count)."""

    path: str
    problem: str  # "status.yaml is written by the reconciler only: ..." (see rule_of)
    release: str  # how to release the hold: "revert the edit: git revert 1a2b3c4"
    # What the newest trusted bot commit wrote (flags follow it, never the edit); None when
    # no bot commit wrote it or it was not asked for.
    last_trusted: bytes | None = None

    @property
    def hold(self) -> str:
        return f"{self.problem}; to release the hold, {self.release}"


def untrusted_files(root: str, paths: Sequence[str], *, contents: bool = False,
                    cache: str | None = None,
                    present: Collection[str] | None = None) -> dict[str, Untrusted]:
    """The untrusted ones among the bot-written PATHS (relative to ROOT; present or not).
    With CONTENTS, each carries what the newest trusted bot commit wrote. CACHE: a folder
    that keeps the commits found good (a signature never changes), so a second run checks
    only new ones; a fresh clone has none and checks every distinct commit it finds.
    PRESENT: which of PATHS are there, when the caller has just listed their folders
    (validate's walk): then none is looked up."""
    if not paths:
        return {}
    found = [p for p in paths if os.path.lexists(os.path.join(root, p))] if present is None \
        else [p for p in paths if p in present]
    cannot = _cannot_verify(git.where(root), root)
    if cannot:
        return {p: Untrusted(p, f"{rule_of(p)}: it cannot be verified: {cannot[0]}", cannot[1])
                for p in found}
    bot = bot_at_head(root)
    if isinstance(bot, str):
        return {p: Untrusted(p, f"{rule_of(p)}: it cannot be verified: {bot}",
                             "set up the bot key (README.md, 'The bot identity')")
                for p in found}
    return _Check(root, list(paths), found, bot, contents, cache).run()


def _cannot_verify(where: tuple[str, str] | None, root: str) -> tuple[str, str] | None:
    if where is None:
        return ("it is not in a git repository", "run ailoop in a clone of the repository")
    prefix, head = where
    if prefix:
        return (f"{root} is not the top folder of its git repository",
                "run ailoop at the top of the clone")
    if not head:
        return ("the repository has no commits yet", "remove it (the reconciler writes it)")
    return None


def bot_at_head(root: str) -> BotIdentity | str:
    """The bot settings of HEAD's ailoop.yaml (never the work tree's: a pull request's edit
    of its own key must not vouch for its own commits), or why there are none."""
    from pipeline.documents.load import load_document

    raw = git.read_file_at(root, "HEAD", PROJECT_FILE)
    if raw is None:
        return f"HEAD has no {PROJECT_FILE}"
    doc, findings = load_document(root, PROJECT_FILE, raw=raw)
    if doc is None:
        return f"{PROJECT_FILE} on HEAD is invalid ({findings[0].render() if findings else ''})"
    bot: BotIdentity = doc.model.spec.bot
    if not bot.signing_key:
        return f"{PROJECT_FILE} on HEAD has no spec.bot.signingKey"
    return bot


class _Check:
    """One trust check of many paths against HEAD."""

    def __init__(self, root: str, paths: list[str], present: list[str], bot: BotIdentity,
                 contents: bool, cache: str | None) -> None:
        self.root, self.paths, self.present, self.bot = root, paths, present, bot
        self.present_set = set(present)
        self.contents = contents
        self.checks: dict[str, git.CommitCheck] = {}
        self.shallow: bool | None = None
        self.signers = ""
        self.known = _KnownGood(cache, allowed_signers(bot))

    def run(self) -> dict[str, Untrusted]:
        fd, self.signers = tempfile.mkstemp(prefix="ailoop-allowed-signers-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(allowed_signers(self.bot))
            found = self._run()
        finally:
            os.unlink(self.signers)
        self.known.save()
        return found

    def _run(self) -> dict[str, Untrusted]:
        dirty = self._work_tree()
        clean = [p for p in self.paths if p not in dirty]
        # A file that is not there was deleted, or never written since its priority was
        # added: the walk for it stops at the commit that added the priority.
        stops: dict[str, list[str]] = {}
        for p in clean:
            if p not in self.present_set and (spec := _spec_of(p)) is not None:
                stops.setdefault(spec, []).append(p)
        specs = _specs(clean + list(stops))
        newest = git.first_parent_changes(self.root, "HEAD", specs, clean, stops=stops)
        self._verify({c[0].sha for c in newest.values()})
        suspects = [p for p in clean if not self._trusted_newest(p, newest.get(p))]
        found = {p: self._dirty(p, in_head) for p, in_head in dirty.items()}
        if suspects or (dirty and self.contents):
            found.update(self._walk_back(suspects, list(dirty), found))
        return found

    def _work_tree(self) -> dict[str, bool]:
        """(path -> in HEAD) for the asked paths whose work tree differs from HEAD. Untracked
        ones are the present files the index lacks: git need not walk every folder."""
        asked, specs = set(self.paths), _specs(self.paths)
        dirty = {p: in_head for p, in_head in git.dirty_paths(self.root, specs, False)
                 if p in asked}
        indexed = git.tracked(self.root, specs) if self.present else set()
        dirty.update((p, False) for p in self.present if p not in indexed)
        return dirty

    def _trusted_newest(self, path: str, changes: list[git.PathChange] | None) -> bool:
        if not changes:  # not since its priority was added: nothing to trust if absent
            return path not in self.present_set
        return self._good(changes[0])

    def _good(self, change: git.PathChange) -> bool:
        if not change.parents and self._is_shallow():
            return False  # the edge of a shallow clone "adds" every file: proves nothing
        check = self.checks.get(change.sha)
        return check is not None and check.verdict == GOOD

    def _is_shallow(self) -> bool:
        if self.shallow is None:
            self.shallow = git.is_shallow(self.root)
        return self.shallow

    def _verify(self, shas: set[str]) -> None:
        todo = shas - self.checks.keys()
        self.checks.update((sha, git.CommitCheck(sha, GOOD, "")) for sha in todo
                           if sha in self.known.good)
        todo -= self.checks.keys()
        checked = git.check_commits(self.root, todo, self.signers) if todo else {}
        self.known.add(sha for sha, check in checked.items() if check.verdict == GOOD)
        self.checks.update(checked)

    def _dirty(self, path: str, in_head: bool) -> Untrusted:
        if not in_head:
            return Untrusted(path, f"{rule_of(path)}: it is not committed",
                             f"remove it (rm {path})")
        if os.path.lexists(os.path.join(self.root, path)):
            what = "it has uncommitted changes"
        else:
            what = "it was deleted and the deletion is not committed"
        return Untrusted(path, f"{rule_of(path)}: {what}",
                         f"discard that: git checkout HEAD -- {path}")

    def _walk_back(self, suspects: list[str], dirty: list[str],
                   found: dict[str, Untrusted]) -> dict[str, Untrusted]:
        """Every change of these paths, back to the newest trusted bot commit of each: a
        suspect whose content is what that commit left is trusted again (a revert)."""
        paths = suspects + dirty
        history = git.first_parent_changes(self.root, "HEAD", _specs(paths), paths, every=True)
        self._verify({c.sha for p in paths for c in history.get(p, [])})
        bot_commit = {p: next((c for c in history.get(p, []) if self._good(c)), None)
                      for p in paths}
        specs = [f"HEAD:{p}" for p in paths] + [f"{c.sha}:{p}" for p, c in bot_commit.items()
                                                if c is not None]
        blobs = dict(zip(specs, git.blob_ids(self.root, specs), strict=True))
        out: dict[str, Untrusted] = {}
        for path in paths:
            trusted = bot_commit[path]
            wrote = blobs[f"{trusted.sha}:{path}"] if trusted is not None else None
            if path in suspects and blobs[f"HEAD:{path}"] == wrote:
                continue  # byte for byte what the bot last wrote: an edit undone
            base = found.get(path) or self._suspect(path, history.get(path, []), trusted)
            content = git.read_blob(self.root, wrote) if wrote and self.contents else None
            out[path] = Untrusted(base.path, base.problem, base.release, content)
        return out

    def _suspect(self, path: str, changes: list[git.PathChange],
                 trusted: git.PathChange | None) -> Untrusted:
        if not changes:
            return Untrusted(path, f"{rule_of(path)}: no commit on HEAD's first-parent "
                             "history wrote it", f"remove it (git rm {path})")
        last = changes[0]
        check = self.checks.get(last.sha)
        who = f" ({check.author})" if check is not None and check.author else ""
        if not last.parents and self._is_shallow():
            problem = (f"{rule_of(path)}: it cannot be verified in a shallow clone (the "
                       f"history ends at commit {last.sha[:7]})")
            return Untrusted(path, problem, "fetch the whole history (git fetch --unshallow; "
                             "actions/checkout: fetch-depth: 0)")
        verb = "deleted" if last.deleted else "last changed"
        problem = (f"{rule_of(path)}: {verb} by commit {last.sha[:7]}{who}, not a signed "
                   "ailoop bot commit")
        return Untrusted(path, problem, _release(path, changes, trusted))


def bot_signed(root: str, bot: BotIdentity, shas: Sequence[str],
               cache: str | None = None) -> set[str]:
    """Those of SHAS signed with a key of BOT. CACHE: the folder that keeps commits found
    good before (a signature never changes), so only new ones spawn a signature check."""
    signers = allowed_signers(bot)
    known = _KnownGood(cache, signers)
    todo = [sha for sha in shas if sha not in known.good]
    if todo:
        with git.allowed_signers_file(signers) as path:
            checks = git.check_commits(root, todo, path)
        known.add(sha for sha, check in checks.items() if check.verdict == GOOD)
        known.save()
    return {sha for sha in shas if sha in known.good}


class _KnownGood:
    """Commits whose signature git found good for this set of bot keys, kept in a file of
    the cache folder (one per key set: a rotation starts afresh)."""

    def __init__(self, folder: str | None, signers: str) -> None:
        digest = hashlib.sha256(signers.encode()).hexdigest()[:16]
        self.path = os.path.join(folder, f"trust-{digest}.txt") if folder else None
        self.good: set[str] = set()
        self.new = False
        if self.path is not None:
            try:
                with open(self.path, encoding="ascii") as fh:
                    self.good = {line for line in fh.read().split() if _SHA.fullmatch(line)}
            except (OSError, UnicodeDecodeError):
                pass

    def add(self, shas: Iterable[str]) -> None:
        before = len(self.good)
        self.good.update(shas)
        self.new = self.new or len(self.good) > before

    def save(self) -> None:
        if self.path is None or not self.new:
            return
        try:
            write_atomic(self.path, "".join(f"{sha}\n" for sha in sorted(self.good)))
        except OSError:
            pass  # a cache: the next run checks again


def _release(path: str, changes: list[git.PathChange], trusted: git.PathChange | None) -> str:
    since = changes if trusted is None else changes[:changes.index(trusted)]
    if len(since) == 1 and len(since[0].parents) <= 1:
        return f"revert the edit: git revert {since[0].sha[:7]}"
    if trusted is not None and not trusted.deleted:
        return (f"restore what the bot last wrote: git checkout {trusted.sha[:7]} -- {path}, "
                "then commit")
    return f"remove it: git rm {path}, then commit"


def _specs(paths: Sequence[str]) -> list[str]:
    """Pathspecs for PATHS: themselves, or when there are many, one glob per kind of file
    (every priority's status.yaml, every evidence file), which the walk then filters."""
    if len(paths) <= _LITERAL_MAX:
        return [f":(literal){p}" for p in paths]
    return sorted({_glob_of(p) for p in paths})


def _glob_of(path: str) -> str:
    parts = path.split("/")
    if parts[0] != CUSTOMERS or len(parts) < 4:
        return f":(literal){path}"
    parts[1:3] = ["*", "*"]
    if len(parts) > 4:
        parts[-1] = "*"
    return ":(glob)" + "/".join(parts)


def _spec_of(path: str) -> str | None:
    """The priority.yaml of the priority PATH belongs to (None: it belongs to none)."""
    key = priority_of(path)
    return f"{priority_dir(key)}/{PRIORITY_FILE}" if key else None
