"""All git access. The only module that imports GitPython (lazily: it is slow to import)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import subprocess
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.errors import GitError, InputError
from pipeline.fsio import stamp

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256
# Every git command ailoop runs reads the history as it is: a replace ref (refs/replace/)
# would show another commit, unsigned, in place of one the bot signed, or the reverse.
GIT = ("git", "--no-replace-objects")


def _run(root: str, *args: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run([*GIT, "-C", root, *args], capture_output=True, text=True,
                              timeout=120, check=False,
                              env={**os.environ, **env} if env else None)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git {args[0]} failed: {e}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {reason}")
    return proc.stdout


def _start(root: str, *args: str, options: Sequence[str] = ()) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen([*GIT, "-C", root, *options, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    except OSError as e:
        raise GitError(f"git {args[0]} failed: {e}") from None


def _finish(proc: subprocess.Popen[str], command: str) -> str:
    """The output of a command started by _start, as _run would return it."""
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired as e:
        proc.kill()
        proc.communicate()
        raise GitError(f"git {command} failed: {e}") from None
    if proc.returncode != 0:
        lines = err.strip().splitlines()
        raise GitError(f"git {command} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return out


def changed_files(root: str, ref: str) -> list[str]:
    """Files changed between REF and the working tree, plus untracked files."""
    return start_changed_files(root, ref)()


def start_changed_files(root: str, ref: str) -> ChangedSince:
    """Start the git commands behind changed_files and return what waits for their answer,
    so the caller can read the tree meanwhile (on a big repo they dominate a
    --changed-since run). They run at once; their errors are judged in order."""
    if ref.startswith("-"):
        raise InputError(f"not a git ref: {ref}")
    verify = _start(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    # --relative: paths relative to `root` even when it is a subfolder of the work tree.
    # No preloading: git then compares the index's stat data with the files on one core;
    # its threads would take the other from the listing of untracked files.
    diff = _start(root, "diff", "--name-only", "--no-renames", "--relative", "-z", ref, "--",
                  options=("-c", "core.preloadIndex=false"))
    # --literal-pathspecs: a file named like a glob ('a[1].yaml') means itself.
    listing = _start(root, "--literal-pathspecs", "ls-files", "--others",
                     "--exclude-standard", "-z")
    return ChangedSince(root, ref, verify, diff, listing)


@dataclass
class ChangedSince:
    """The running git commands of start_changed_files; call it for their answer."""

    root: str
    ref: str
    verify: subprocess.Popen[str]
    diff: subprocess.Popen[str]
    listing: subprocess.Popen[str]  # the untracked files

    def __call__(self) -> list[str]:
        """Changed and untracked files, sorted."""
        outputs: list[str | GitError] = []
        for proc, command in ((self.verify, "rev-parse"), (self.diff, "diff"),
                              (self.listing, "ls-files")):
            try:
                outputs.append(_finish(proc, command))
            except GitError as e:
                outputs.append(e)
        if isinstance(outputs[0], GitError):
            try:
                _run(self.root, "rev-parse", "--git-dir")
            except GitError as e:
                raise GitError(f"--changed-since needs a git repository; {self.root} is not "
                               f"in one ({e})") from None
            raise InputError(f"--changed-since: unknown git ref '{self.ref}'") from None
        for out in outputs[1:]:
            if isinstance(out, GitError):
                raise out
        return sorted({n for n in (str(outputs[1]) + str(outputs[2])).split("\0") if n})

    def running(self) -> bool:
        """Whether git is still working out the answer (the caller may use the time)."""
        return any(proc.poll() is None for proc in (self.verify, self.diff, self.listing))

    def stop(self) -> None:
        """End the commands that are still running (the run did not need them)."""
        for proc in (self.verify, self.diff, self.listing):
            if proc.returncode is None:
                proc.kill()
                proc.communicate()


# --- approvals: base-branch files, evidence binding, SSH-signed approval commits ---


class SignedCommit(NamedTuple):
    sha: str
    verdict: str  # git's %G?: G good, B bad, U unknown signer, N unsigned, E cannot check...
    signer: str  # the principal from the allowed-signers file ("" unless verified)
    time: int  # committer time, seconds since the epoch
    message: str


def rev_parse(root: str, rev: str) -> str:
    """The full sha of a commit; GitError when REV does not name one."""
    if rev.startswith("-"):
        raise InputError(f"not a git ref: {rev}")
    return _run(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()


def show_file(root: str, rev: str, path: str) -> str | None:
    """The text of PATH (relative to ROOT) at commit REV, or None when it has no such file."""
    sha = rev_parse(root, rev)
    if not _run(root, "ls-tree", "--name-only", sha, "--", path).strip():
        return None
    return _run(root, "cat-file", "blob", f"{sha}:./{path}")


def same_content(root: str, rev: str, paths: list[str]) -> bool:
    """True when PATHS in the work tree hold exactly what they held at REV."""
    sha = rev_parse(root, rev)
    if _run(root, "ls-files", "--others", "--exclude-standard", "--", *paths).strip():
        return False
    try:
        proc = subprocess.run([*GIT, "-C", root, "diff", "--quiet", sha, "--", *paths],
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git diff failed: {e}") from None
    if proc.returncode not in (0, 1):
        raise GitError(f"git diff failed: exit {proc.returncode}")
    return proc.returncode == 0


def last_change(root: str, rev: str, paths: list[str]) -> tuple[str, str, str] | None:
    """(sha, author name, author email) of the newest commit on REV touching PATHS."""
    out = _run(root, "log", "-1", "--format=%H%x1f%an%x1f%ae", rev_parse(root, rev), "--",
               *paths).strip()
    if not out:
        return None
    sha, name, email = out.split("\x1f")
    return sha, name, email


def line_authors(root: str, rev: str, path: str, text: str) -> list[str]:
    """Author e-mails of every commit on REV whose diff of PATH adds or removes a line
    containing TEXT (git log -G): who wrote or changed that line."""
    pattern = re.escape(text)
    out = _run(root, "log", "--format=%ae", f"-G{pattern}", rev_parse(root, rev), "--",
               f":(literal){path}").split()
    return sorted(set(out))


def first_parent_commits(root: str, rev: str, path: str) -> list[str]:
    """The commits on REV's first-parent history that changed PATH, oldest first."""
    out = _run(root, "log", "--first-parent", "--reverse", "--format=%H", rev_parse(root, rev),
               "--", f":(literal){path}")
    return out.split()


def first_parent_shas(root: str, rev: str, *, since: str = "", pathspecs: Sequence[str] = (),
                      grep: str = "", limit: int = 0) -> list[str]:
    """Commits on REV's first-parent history, newest first: only those after SINCE, those
    that changed a path of PATHSPECS (magic pathspecs allowed), and those whose message
    has a line matching GREP, when given; at most LIMIT (git stops walking there)."""
    span = rev_parse(root, rev)
    if since:
        span = f"{rev_parse(root, since)}..{span}"
    args = ["log", "--first-parent", "--format=%H", *([f"--grep={grep}"] if grep else []),
            *([f"-{limit}"] if limit else []), span, "--", *pathspecs]
    return _run(root, *args).split()


def is_ancestor(root: str, older: str, newer: str) -> bool:
    """True when commit OLDER is NEWER or one of its ancestors."""
    proc = subprocess.run([*GIT, "-C", root, "merge-base", "--is-ancestor", older, newer],
                          capture_output=True, check=False, timeout=120)
    if proc.returncode not in (0, 1):
        raise GitError(f"git merge-base failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.returncode == 0


def commit_signed_empty(root: str, message: str, key_path: str,
                        author: tuple[str, str] | None = None) -> str:
    """Commit MESSAGE on HEAD with HEAD's tree (nothing staged is included), signed with
    the SSH key KEY_PATH and authored by AUTHOR (name, e-mail); returns the new sha."""
    head = rev_parse(root, "HEAD")
    who = {} if author is None else {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
                                     "GIT_COMMITTER_NAME": author[0],
                                     "GIT_COMMITTER_EMAIL": author[1]}
    sha = _run(root, "-c", "gpg.format=ssh", "-c", f"user.signingkey={key_path}",
               "commit-tree", "-S", "-p", head, "-m", message, f"{head}^{{tree}}",
               env=who).strip()
    _run(root, "update-ref", "-m", "ailoop approve", "HEAD", sha, head)
    return sha


@contextlib.contextmanager
def allowed_signers_file(text: str) -> Iterator[str]:
    """A private allowed-signers file (gpg.ssh.allowedSignersFile) for the git calls in
    the block, deleted afterwards."""
    import tempfile  # only signature checks: every validate run imports this module

    fd, path = tempfile.mkstemp(prefix="ailoop-signers-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        yield path
    finally:
        os.unlink(path)


def signed_approval_commits(root: str, rev: str, allowed_signers: str,
                            marker: str, since: str = "") -> list[SignedCommit]:
    """Commits on REV (and not on SINCE, when given) whose message has a MARKER trailer
    line, with git's SSH verdict."""
    fmt = "%H%x1f%G?%x1f%GS%x1f%ct%x1f%B%x1e"
    span = rev_parse(root, rev)
    if since:
        span = f"{rev_parse(root, since)}..{span}"
    out = _run(root, "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log",
               f"--grep=^{marker}", f"--format={fmt}", span, "--")
    found: list[SignedCommit] = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 5:
            found.append(SignedCommit(fields[0], fields[1], fields[2], int(fields[3]),
                                      fields[4]))
    return found


def commit_signature(root: str, sha: str, allowed_signers: str) -> tuple[str, str]:
    """(git's %G? verdict, the allowed-signers principal) of one commit."""
    out = _run(root, "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log", "-1",
               "--format=%G?%x1f%GS", rev_parse(root, sha), "--").strip()
    verdict, _, signer = out.partition("\x1f")
    return verdict or "N", signer


def push_branch(root: str, remote: str = "origin") -> None:
    """Push the current branch to its namesake on REMOTE."""
    branch = _run(root, "symbolic-ref", "--short", "HEAD").strip()
    _run(root, "push", "-q", remote, f"HEAD:refs/heads/{branch}")


def list_dir(root: str, rev: str, path: str) -> list[str]:
    """Names of the entries of folder PATH at commit REV (empty when it does not exist)."""
    out = _run(root, "ls-tree", "--name-only", "-z", rev_parse(root, rev), "--", f"{path}/")
    return sorted(name.rsplit("/", 1)[-1] for name in out.split("\0") if name)


def list_tree(root: str, rev: str, path: str) -> list[str]:
    """Repo-relative paths of every file under folder PATH at commit REV, at any depth."""
    out = _run(root, "ls-tree", "-r", "--name-only", "-z", rev_parse(root, rev), "--",
               f"{path}/")
    return sorted(name for name in out.split("\0") if name)


def config_value(root: str, name: str) -> str | None:
    """A git config value as git would use it in ROOT, or None when unset."""
    try:
        value = _run(root, "config", "--get", name).strip()
    except GitError:
        return None
    return value or None


# --- write-back for the reconciler --------------------------------------------------------
# Plain git commands, never a force push: a rejected push is answered by fetching and
# replanning on the new head (pipeline.reconcile.apply), so a human commit is never overwritten.

TRAILER_ACTION = "Ailoop-Action"


def is_work_tree(root: str) -> bool:
    try:
        return _run(root, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except GitError:
        return False


def loose_head(root: str) -> str | None:
    """HEAD's commit read from .git's files, sparing a git process, when .git is a folder
    and HEAD's branch is a loose ref (every commit writes one); None otherwise."""
    git_dir = os.path.join(root, ".git")
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="ascii") as fh:
            text = fh.read(300).strip()
        if text.startswith("ref: refs/"):
            with open(os.path.join(git_dir, text[len("ref: "):]), encoding="ascii") as fh:
                text = fh.read(100).strip()
    except (OSError, ValueError):
        return None
    return text if _OBJECT_ID.fullmatch(text) else None


def head(root: str) -> str:
    """The commit HEAD points at, or '' in a repository without commits."""
    try:
        return _run(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
    except GitError:
        return ""


def state(root: str) -> str | None:
    """A digest of what git's answers about ROOT depend on besides the work tree's files:
    HEAD, the index (its stat: the one GIT_INDEX_FILE names, if any), a shallow clone's
    edge, grafts, the configuration in effect (core.fileMode, core.autocrlf and the like
    change what `git status` calls a change; git lists what it uses, from every scope,
    include, `git -c` and GIT_CONFIG_*), the attributes files outside the folders the walk
    lists (the top folder's .gitattributes and attributes_files: `text`, `eol` and filters
    change what status calls a change too) and the GIT_* environment. A cached answer that asked
    git is kept under it. None outside a repository's top folder (a linked worktree keeps
    its index elsewhere), before the first commit, or when git cannot list its
    configuration: nothing is cached then."""
    git_dir = os.path.join(root, ".git")
    if not os.path.isdir(git_dir):
        return None
    commit = loose_head(root) or head(root)
    if not commit:
        return None
    try:
        config = _run(root, "config", "--list", "-z")
    except GitError:
        return None
    index = os.environ.get("GIT_INDEX_FILE") or os.path.join(git_dir, "index")
    files = [os.path.join(root, index),  # git -C root takes a relative one from ROOT
             *(os.path.join(git_dir, *name) for name in (("shallow",), ("info", "grafts"))),
             os.path.join(root, ".gitattributes"), *attributes_files(root, config)]
    environment = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("GIT_"))
    parts = [commit, *(f"{path}\0{stamp(path)}" for path in files), config, *environment]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def attributes_files(root: str, config: str) -> list[str]:
    """The attributes files git reads outside the work tree, as git finds them: the
    system one ($(prefix)/etc/gitattributes: /etc/gitattributes where git's prefix is
    /usr), core.attributesFile (its last value, as git takes it: `~`, `%(prefix)/`, or a
    path from the top folder), else $XDG_CONFIG_HOME/git/attributes, and the repository's
    .git/info/attributes. `config`: `git config --list -z` of ROOT."""
    prefix = _git_prefix()
    configured = ""
    for entry in config.split("\0"):
        name, _, value = entry.partition("\n")
        if name == "core.attributesfile":
            configured = value  # the last one wins, as in git
    if configured.startswith("%(prefix)/"):
        configured = prefix + configured[len("%(prefix)"):]
    if configured:
        personal = os.path.join(root, os.path.expanduser(configured))
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".config")
        personal = os.path.join(base, "git", "attributes")
    return [os.path.join(prefix, "etc", "gitattributes"), "/etc/gitattributes", personal,
            os.path.join(root, ".git", "info", "attributes")]


def _git_prefix() -> str:
    """Where git is installed (/usr for /usr/bin/git)."""
    import shutil  # only when a cache key is taken: --help and git-free commands skip it

    found = shutil.which("git")
    return os.path.dirname(os.path.dirname(os.path.realpath(found))) if found else "/usr"


def current_branch(root: str) -> str:
    name = _run(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if name == "HEAD":
        raise GitError("HEAD is detached; check out the branch to reconcile")
    return name


def dirty_paths(root: str, pathspecs: list[str], untracked: bool = True
                ) -> list[tuple[str, bool]]:
    """(path, in HEAD) for files matching the pathspecs that differ from HEAD. A file that
    is untracked, or staged but new (a run killed between `add` and `commit`), is not in
    HEAD. Without UNTRACKED, untracked files are not looked for (git's slowest part: a walk
    of every folder)."""
    # Without optional locks: status only reads here. Left to itself it rewrites the index
    # it refreshed, and the index is part of what cached answers are keyed by (see state):
    # a run would never find its own answer again.
    out = _run(root, "status", "--porcelain=v1", "-z",
               f"--untracked-files={'all' if untracked else 'no'}", "--", *pathspecs,
               env={"GIT_OPTIONAL_LOCKS": "0"})
    found: list[tuple[str, bool]] = []
    for entry in out.split("\0"):
        if len(entry) > 3:
            found.append((entry[3:], not entry.startswith(("??", "A"))))
    return found


def forget_paths(root: str, paths: list[str]) -> None:
    """Unstage files that are not in HEAD (the work tree copies are left alone)."""
    if paths:
        _run(root, "rm", "--cached", "-q", "--ignore-unmatch", "--", *paths)


def restore_paths(root: str, paths: list[str]) -> None:
    """Put tracked files back to HEAD (index and work tree)."""
    if paths:
        _run(root, "checkout", "HEAD", "--", *paths)


def commit_paths(root: str, paths: list[str], message: str, name: str, email: str,
                 signing_key: str) -> str:
    """Commit exactly `paths` (nothing else that is staged or edited) as NAME <EMAIL>,
    signed with the SSH private key at SIGNING_KEY; '' if unchanged."""
    _run(root, "add", "-A", "--", *paths)
    try:
        _run(root, "diff", "--cached", "--quiet", "--", *paths)
        return ""  # no difference to HEAD
    except GitError:
        pass
    # The environment's GIT_AUTHOR_* / GIT_COMMITTER_* would win over user.name: set both.
    who = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email}
    _run_input(root, message, "-c", f"user.name={name}", "-c", f"user.email={email}",
               "-c", "gpg.format=ssh", "-c", f"user.signingkey={signing_key}",
               "commit", "-q", "-S", "--no-verify", "-F", "-", "--only", "--", *paths,
               env=who)
    return head(root)


def _run_input(root: str, stdin: str, *args: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run([*GIT, "-C", root, *args], input=stdin, capture_output=True,
                              text=True, timeout=120, check=False,
                              env={**os.environ, **env} if env else None)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git failed: {e}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines()
        raise GitError(f"git {args[-1] if args else ''} failed: "
                       f"{lines[-1] if lines else proc.returncode}")
    return proc.stdout


def fetch(root: str, remote: str, branch: str) -> str:
    """Fetch the branch; returns the remote-tracking commit."""
    _run(root, "fetch", "-q", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    return _run(root, "rev-parse", f"refs/remotes/{remote}/{branch}").strip()


def unpushed(root: str, upstream: str) -> list[tuple[str, bool]]:
    """(sha, made by the reconciler) for commits on HEAD that `upstream` lacks, oldest first."""
    out = _run(root, "log", "--reverse", "-z", "--format=%H%x00%B", f"{upstream}..HEAD")
    fields = out.split("\0")
    commits: list[tuple[str, bool]] = []
    for sha, body in zip(fields[0::2], fields[1::2], strict=False):
        if sha.strip():
            commits.append((sha.strip(), f"\n{TRAILER_ACTION}:" in f"\n{body}"))
    return commits


def reset_keep(root: str, ref: str) -> None:
    """Move HEAD (and files) to `ref`, keeping uncommitted edits; refuses if they conflict."""
    _run(root, "reset", "-q", "--keep", ref)


def push(root: str, remote: str, branch: str) -> bool:
    """Push HEAD to the branch. False when rejected as non-fast-forward; never forces."""
    try:
        proc = subprocess.run([*GIT, "-C", root, "push", "--porcelain", remote,
                               f"HEAD:refs/heads/{branch}"], capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git push failed: {e}") from None
    if proc.returncode == 0:
        return True
    text = proc.stdout + proc.stderr
    if any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first",
                               "cannot lock ref", "failed to update ref", "stale info")):
        return False
    lines = proc.stderr.strip().splitlines()
    raise GitError(f"git push failed: {lines[-1] if lines else proc.returncode}")


# --- trust: who last changed a file, and whether the bot signed it -------------------------

class PathChange(NamedTuple):
    """A commit on the first-parent history that changed a path (compared with its first
    parent: a merged pull request shows up as its merge commit)."""

    sha: str
    parents: tuple[str, ...]
    deleted: bool  # the commit removed the path


class CommitCheck(NamedTuple):
    sha: str
    verdict: str  # git's %G?: G good (a key of the allowed signers), N unsigned, U, B, E...
    author: str  # "Name <email>"


def where(root: str) -> tuple[str, str] | None:
    """(ROOT's path inside its work tree, '' at the top; HEAD's sha, '' before the first
    commit), or None outside any work tree. One git process."""
    try:
        out = _run(root, "rev-parse", "--show-prefix", "HEAD^{commit}").splitlines()
    except GitError:
        try:  # no commit yet, or no repository at all
            return _run(root, "rev-parse", "--show-prefix").strip(), ""
        except GitError:
            return None
    return (out[0].strip(), out[1].strip()) if len(out) == 2 else ("", out[0].strip())


def read_file_at(root: str, rev: str, path: str) -> bytes | None:
    """The bytes of PATH (relative to ROOT) at commit REV; None when REV has no such file."""
    try:
        proc = subprocess.run([*GIT, "-C", root, "cat-file", "blob", f"{rev}:./{path}"],
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git cat-file failed: {e}") from None
    return proc.stdout if proc.returncode == 0 else None


def tracked(root: str, pathspecs: Sequence[str]) -> set[str]:
    """The files in the index matching the pathspecs (the index only: no walk)."""
    return {p for p in _run(root, "ls-files", "-z", "--", *pathspecs).split("\0") if p}


def is_shallow(root: str) -> bool:
    return _run(root, "rev-parse", "--is-shallow-repository").strip() == "true"


def first_parent_changes(root: str, rev: str, pathspecs: Sequence[str],
                         wanted: Collection[str], every: bool = False,
                         stops: Mapping[str, Collection[str]] | None = None
                         ) -> dict[str, list[PathChange]]:
    """The commits on REV's first-parent history that changed each of the WANTED paths
    (relative to ROOT), newest first: only the newest one each, unless EVERY. One walk for
    all paths; it stops reading as soon as every wanted path has its newest change, or
    (STOPS: other path -> wanted paths, all matched by PATHSPECS) the commit that added the
    other path: the wanted ones have not changed since."""
    wanted = set(wanted)
    found: dict[str, list[PathChange]] = {}
    if not wanted:
        return found
    missing = set(wanted)
    take = functools.partial(_take_record, wanted=wanted, missing=missing, found=found,
                             every=every, stops=stops or {})
    fmt = "--format=%x1e%H%x1f%P"  # hex only: no author text to confuse the parsing
    try:
        proc = subprocess.Popen([*GIT, "-C", root, "log", "--first-parent",
                                 "--diff-merges=first-parent", "--no-renames", "--relative",
                                 "--name-status", "-z", fmt, rev, "--", *pathspecs],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
    except OSError as e:
        raise GitError(f"git log failed: {e}") from None
    assert proc.stdout is not None
    pending, stopped = b"", False
    try:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            *records, pending = (pending + chunk).split(b"\x1e")
            for record in records:
                take(record.decode("utf-8", "surrogateescape"))
            if not (missing or every):
                stopped = True
                break
        else:  # the last record, whole at the end of the output
            take(pending.decode("utf-8", "surrogateescape"))
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    if proc.returncode != 0 and not stopped:
        lines = err.decode(errors="replace").strip().splitlines()
        raise GitError(f"git log failed: {lines[-1] if lines else proc.returncode}")
    return found


def _take_record(record: str, *, wanted: set[str], missing: set[str],
                 found: dict[str, list[PathChange]], every: bool,
                 stops: Mapping[str, Collection[str]]) -> None:
    if not record:
        return
    header, _, names = record.partition("\0")
    sha, _, parents = header.partition("\x1f")
    fields = names.lstrip("\n").split("\0")
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if path in wanted and (every or path in missing):
            found.setdefault(path, []).append(
                PathChange(sha, tuple(parents.split()), status.startswith("D")))
            missing.discard(path)
        elif status.startswith("A") and path in stops:
            missing.difference_update(stops[path])


def check_commits(root: str, shas: Collection[str], allowed_signers: str
                  ) -> dict[str, CommitCheck]:
    """git's signature verdict for each commit against the ALLOWED_SIGNERS file, with its
    author (one git process; git runs ssh-keygen once per signed commit)."""
    if not shas:
        return {}
    out = _run_input(root, "".join(f"{sha}\n" for sha in shas),
                     "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log",
                     "--no-walk=unsorted", "--stdin", "-z", "--format=%H%x00%G?%x00%an%x00%ae")
    fields = out.split("\0")
    checks: dict[str, CommitCheck] = {}
    for i in range(0, len(fields) - 3, 4):
        sha = fields[i].strip()
        checks[sha] = CommitCheck(sha, fields[i + 1], f"{fields[i + 2]} <{fields[i + 3]}>")
    return checks


def blob_ids(root: str, specs: Sequence[str]) -> list[str | None]:
    """The blob id of each 'REV:PATH' (PATH relative to ROOT), None where REV has no such
    file."""
    if not specs:
        return []
    out = _run_input(root, "".join(f"{rev}:./{path}\n" for rev, _, path in
                                   (spec.partition(":") for spec in specs)),
                     "cat-file", "--batch-check=%(objectname) %(objecttype)")
    ids: list[str | None] = []
    for line in out.splitlines():
        oid, _, kind = line.partition(" ")
        ids.append(oid if kind == "blob" else None)
    return ids


def read_blob(root: str, oid: str) -> bytes:
    try:
        proc = subprocess.run([*GIT, "-C", root, "cat-file", "blob", oid],
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git cat-file failed: {e}") from None
    if proc.returncode != 0:
        raise GitError(f"git cat-file failed: exit {proc.returncode}")
    return proc.stdout


# --- git notes: the notification ledger -------------------------------------------------

def recent_commits(root: str, rev: str, count: int, since: str, notes: str
                   ) -> list[tuple[str, str, str]]:
    """(sha, message, note under the NOTES ref) of up to COUNT commits on REV's
    first-parent history made after SINCE (an ISO time), newest first."""
    out = _run(root, "log", "--first-parent", f"-n{count}", f"--since={since}",
               f"--notes={notes}", "--format=%H%x1f%B%x1f%N%x1e", rev_parse(root, rev))
    found = []
    for record in out.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 3:
            found.append((parts[0], parts[1], parts[2].strip()))
    return found


def changed_in(root: str, sha: str) -> list[str]:
    """The paths commit SHA changed (compared with its first parent)."""
    out = _run(root, "diff-tree", "--no-commit-id", "--name-only", "-r", "--no-renames",
               "-m", "--first-parent", sha)
    return [line for line in out.splitlines() if line]


def add_note(root: str, ref: str, sha: str, text: str, name: str, email: str) -> None:
    _run(root, "notes", f"--ref={ref}", "add", "-f", "-m", text, sha,
         env={"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
              "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email})


def note(root: str, ref: str, sha: str) -> str:
    """The git note on commit SHA under the notes REF ('' when there is none)."""
    proc = subprocess.run([*GIT, "-C", root, "notes", f"--ref={ref}", "show", sha],
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def fetch_ref(root: str, remote: str, ref: str) -> bool:
    """Replace the local REF with the remote's; False when the remote has none."""
    proc = subprocess.run([*GIT, "-C", root, "fetch", "-q", remote, f"+{ref}:{ref}"],
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode == 0


def push_ref(root: str, remote: str, ref: str) -> bool:
    """Push REF (fast-forward only); False when the remote moved meanwhile."""
    proc = subprocess.run([*GIT, "-C", root, "push", "-q", remote, f"{ref}:{ref}"],
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode == 0


class Authored(NamedTuple):
    """A commit of a change that changes files (an approval commit changes none)."""

    sha: str
    email: str  # the author's, as the commit says (git does not check it)


def authored_commits(root: str, base: str, rev: str) -> list[Authored]:
    """Commits in BASE..REV whose tree differs from their first parent's: every commit
    that changes a file, merges included, whatever its message says."""
    span = f"{rev_parse(root, base)}..{rev_parse(root, rev)}"
    rows = [line.split("\x1f") for line in
            _run(root, "log", "--format=%H%x1f%T%x1f%P%x1f%ae", span).splitlines() if line]
    parents = sorted({r[2].split()[0] for r in rows if r[2]})
    trees = dict(zip(parents, _run(root, "rev-parse", *(f"{p}^{{tree}}" for p in parents))
                     .split(), strict=True)) if parents else {}
    return [Authored(sha, email) for sha, tree, parent, email in rows
            if not parent or trees[parent.split()[0]] != tree]


def merge_base(root: str, one: str, other: str) -> str:
    """The best common ancestor of two commits; GitError when they have none."""
    return _run(root, "merge-base", rev_parse(root, one), rev_parse(root, other)).strip()


def changed_between(root: str, old: str, new: str) -> list[str]:
    """Paths that differ between two commits (both sides of a rename)."""
    out = _run(root, "diff", "--name-only", "--no-renames", "--relative", "-z",
               rev_parse(root, old), rev_parse(root, new), "--")
    return sorted(p for p in out.split("\0") if p)


def remote_default_branch(root: str, remote: str = "origin") -> str | None:
    """REMOTE's default branch as a remote-tracking ref ('origin/main'), or None. The
    clone's record of it first; else the remote is asked (a plain `git remote add` and
    actions/checkout record none) and its answer used only when it is fetched here."""
    try:
        return _run(root, "symbolic-ref", "--quiet", "--short",
                    f"refs/remotes/{remote}/HEAD").strip()
    except GitError:
        pass
    try:
        out = _run(root, "ls-remote", "--symref", remote, "HEAD",
                   env={"GIT_TERMINAL_PROMPT": "0"})  # never wait for a password
    except GitError:
        return None
    for line in out.splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            branch = line[len("ref: refs/heads/"):-len("\tHEAD")]
            tracking = f"{remote}/{branch}"
            try:
                rev_parse(root, tracking)
            except GitError:
                return None
            return tracking
    return None


# --- a change for review (`ailoop dataset add`) -------------------------------------------

def branch_exists(root: str, name: str) -> bool:
    try:
        _run(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}")
    except GitError:
        return False
    return True


def valid_branch_name(root: str, name: str) -> bool:
    proc = subprocess.run([*GIT, "-C", root, "check-ref-format", "--branch", name],
                          capture_output=True, check=False, timeout=120)
    return proc.returncode == 0 and not name.startswith("-")


def switch_new_branch(root: str, name: str) -> None:
    """Create branch NAME at HEAD and check it out (the work tree is clean)."""
    _run(root, "switch", "-q", "-c", name)


def switch_back(root: str, branch: str, abandoned: str) -> None:
    """Return to BRANCH and delete ABANDONED (a branch whose commit failed)."""
    _run(root, "switch", "-q", "-f", branch)
    _run(root, "branch", "-q", "-D", abandoned)


def commit_as_user(root: str, paths: list[str], message: str) -> str:
    """Commit exactly PATHS with the user's own git identity (config, signing settings and
    hooks as they have them); returns the new sha."""
    _run(root, "add", "--", *paths)
    _run_input(root, message, "commit", "-q", "-F", "-", "--only", "--", *paths)
    return head(root)
