"""`ailoop validate`: every document, every cross-reference, every finding at once."""

from __future__ import annotations

import functools
import gc
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from pipeline import git
from pipeline.cache import ResultCache, read_bounded
from pipeline.documents.findings import Finding, sort_findings
from pipeline.documents.inputs import outside_reason, overlap, resolve_input
from pipeline.documents.layout import (
    CUSTOMERS,
    PRIORITY_FILE,
    PROJECT_FILE,
    STATUS_FILE,
    customer_of,
    policy_documents,
    priority_of,
    resolve_inside,
    top_documents,
)
from pipeline.errors import InputError
from pipeline.validate import memo
from pipeline.validate.checks import FileResult
from pipeline.validate.ci_check import ci_findings
from pipeline.validate.policy_cache import Phase, PolicyCache
from pipeline.validate.scope import documents_touched
from pipeline.validate.status_check import status_findings
from pipeline.validate.trust_check import trust_findings

if TYPE_CHECKING:
    from pipeline.git import ChangedSince
    from pipeline.validate.policies import Judge

_PARALLEL_MIN_FILES = 200
_CHUNK = 64
# What cached results hold besides builtin data (see pipeline.cache.store).
_RECORDS = (FileResult, Finding, Phase)
_MAX_DOCUMENT_BYTES = 1024 * 1024  # pipeline.documents.yamlio.MAX_YAML_BYTES (not imported: PyYAML)


class ValidateOptions(NamedTuple):
    root: str
    paths: tuple[str, ...] = ()
    changed: tuple[str, ...] | None = None  # repo-relative paths changed since a ref
    # Or the git commands that say, asked once the tree is read (they run meanwhile).
    changed_later: ChangedSince | None = None
    use_cache: bool = True
    jobs: int = 0  # 0: one per core
    now: datetime | None = None  # the clock for waiver expiry; None: the real UTC time
    # Told why the cache is not reused, line by line (validate -v); None: not asked.
    explain: Callable[[str], None] | None = None

    @property
    def whole(self) -> bool:
        """The run checks the whole repository (not paths, not what changed since a ref)."""
        return not self.paths and self.changed is None and self.changed_later is None


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")


def validate(options: ValidateOptions) -> ValidationReport:
    try:
        return _validate(options)
    finally:
        gc.unfreeze()  # what the cache froze while it loaded (see pipeline.cache)
        if options.changed_later is not None:  # a run that failed early: no git left running
            options.changed_later.stop()


def _validate(options: ValidateOptions) -> ValidationReport:
    root = options.root
    cache = ResultCache(root, "validate", options.use_cache, _RECORDS,
                        partial=not options.whole, scoped=options.changed_later is not None)
    try:
        return _validate_with(options, cache)
    finally:  # what was reused is known once the run is done (walk, untracked files)
        if options.explain is not None:
            for line in cache.explain():
                options.explain(line)


def _validate_with(options: ValidateOptions, cache: ResultCache) -> ValidationReport:
    root = options.root
    now = options.now or datetime.now(UTC)
    # What git reads besides the work tree, taken once before anything asks git: an answer
    # is stored under the state it was computed from, not one another process made since.
    git_state = functools.cache(lambda: git.state(root))
    if options.changed_later is not None:
        documents, judge, options = _scoped(options, cache, now)
    else:
        documents = cache.documents()
        answer = memo.recall(root, cache, now.date(), documents, git_state()) \
            if options.whole and cache.enabled else None
        if answer is not None:
            if options.explain is not None:
                options.explain("cache: nothing changed since the last full run: its "
                                "answer reused")
            return ValidationReport(sort_findings([*answer[0], *ci_findings(root,
                                                                             os.environ)]),
                                    answer[1])
        judge = _judge(root, documents, now)
    if not os.path.isfile(os.path.join(root, PROJECT_FILE)):
        missing = Finding(PROJECT_FILE, 1, 1, "", "repository has no ailoop.yaml "
                          "(run `ailoop init` to create one)")
        return ValidationReport([missing], 0)
    targets = _select(root, documents, options)
    context = _context_for(targets, documents)
    blobs: dict[str, str] = {}
    judged: dict[str, tuple[Finding, ...]] = {}
    results = _check_all(root, sorted(set(targets) | context), cache, options.jobs, blobs,
                         judge, judged)
    findings: list[Finding] = []
    for rel in targets:
        findings.extend(results[rel].findings)
    # What the cross-check saw outside the walk, for the memo to look at again.
    probes: dict[str, str] | None = {} if options.whole and cache.enabled else None
    findings.extend(_cross_check(root, targets, results, cache, probes))
    findings.extend(status_findings(targets, results))
    trusted, trust_kept = trust_findings(root, documents, targets, options.changed, cache,
                                         blobs, git_state)
    findings.extend(trusted)
    from pipeline.validate.policies import policy_findings

    policy_cache = PolicyCache(root, documents, cache, blobs)
    findings.extend(policy_findings(root, documents, targets, results, now, policy_cache,
                                    judge, judged))
    if probes is not None:
        # A segment flagd's validator could not check is judged again once it can be.
        unchecked = any(results[rel].facts.get("unchecked") for rel in targets)
        memo.remember(cache, now.date(), (tuple(findings), len(targets)),
                      policy_cache.reads_now or unchecked or not trust_kept, documents,
                      probes, git_state())
    findings.extend(ci_findings(root, os.environ))  # never cached: it depends on where
    cache.save()
    return ValidationReport(sort_findings(findings), len(targets))


def _scoped(options: ValidateOptions, cache: ResultCache, now: datetime
            ) -> tuple[list[str], Judge, ValidateOptions]:
    """What git says changed, and the documents of only the folders the changes touch (see
    pipeline.validate.scope). Rules that read `repo` count every priority, so then every
    folder is listed."""
    assert options.changed_later is not None
    root = options.root
    # The rules compile while git works out what changed (policies/ is listed in full
    # whatever changed, so they are the run's rules).
    judge = _judge(root, top_documents(root) + policy_documents(root, cache.scan), now)
    reads_repo = "repo" in judge.uses
    if options.changed_later.running():  # what most runs need next, built while git works
        _build_validators()
    changed = tuple(options.changed_later())
    options = options._replace(changed_later=None, changed=changed)
    touched = None if reads_repo else documents_touched(root, changed, cache.scan)
    judge.documents = documents = cache.documents() if touched is None else touched
    return documents, judge, options


def _build_validators() -> None:
    """pydantic builds a model's validator when it first validates: those of the kinds a
    change touches most, built ahead of need."""
    from pipeline.model import Customer, Priority, Project

    for model in (Priority, Customer, Project):
        model.model_rebuild()


def _judge(root: str, documents: list[str], now: datetime) -> Judge:
    from pipeline.validate.policies import Judge

    return Judge(root, documents, now)


def _select(root: str, documents: list[str], options: ValidateOptions) -> list[str]:
    selected = documents
    if options.paths:
        prefixes = _normalise(root, options.paths)
        selected = [d for d in selected if any(_under(d, p) for p in prefixes)]
    if options.changed is not None:
        affected = affected_documents(documents, options.changed)
        selected = [d for d in selected if d in affected]
    return selected


def _normalise(root: str, paths: Iterable[str]) -> list[str]:
    out = []
    real_root = os.path.realpath(root)
    for path in paths:
        full = os.path.realpath(path)
        if not os.path.exists(full):
            raise InputError(f"path does not exist: {path}")
        rel = os.path.relpath(full, real_root).replace(os.sep, "/")
        if rel.startswith(".."):
            raise InputError(f"path is outside the repository: {path}")
        out.append("" if rel == "." else rel)
    return out


def _under(doc: str, prefix: str) -> bool:
    return not prefix or doc == prefix or doc.startswith(prefix.rstrip("/") + "/")


def affected_documents(documents: list[str], changed: Iterable[str]) -> set[str]:
    """Documents whose validation result may differ because `changed` files changed."""
    changed = list(changed)
    if any(c == PROJECT_FILE or c.startswith("policies/") for c in changed):
        return set(documents)
    affected: set[str] = set()
    by_customer = {c for c in changed if c.startswith(CUSTOMERS + "/") and
                   c.count("/") == 2 and c.endswith("/customer.yaml")}
    # "customers/<c>/<p>/..." -> "<c>/<p>": a set lookup per document, not a scan of `changed`
    changed_keys = {"/".join(parts[1:3]) for c in changed
                    if (parts := c.split("/"))[0] == CUSTOMERS and len(parts) > 3}
    changed_set = set(changed)
    for doc in documents:
        key = priority_of(doc)
        if doc in changed_set or (key and key in changed_keys):
            affected.add(doc)
        elif by_customer and f"{CUSTOMERS}/{customer_of(doc)}/customer.yaml" in by_customer:
            affected.add(doc)
    return affected


def _context_for(targets: list[str], documents: list[str]) -> set[str]:
    """Documents the targets' cross-checks read: the customers of target priorities, and
    the priority of a target status."""
    available = set(documents)
    needed = set()
    for rel in targets:
        if rel.endswith("/" + STATUS_FILE):
            spec = rel[: -len(STATUS_FILE)] + PRIORITY_FILE
            if spec in available:
                needed.add(spec)
        customer = customer_of(rel)
        if customer:
            path = f"{CUSTOMERS}/{customer}/customer.yaml"
            if path in available:
                needed.add(path)
    return needed


def _check_all(root: str, rels: list[str], cache: ResultCache, jobs: int,
               blobs: dict[str, str], judge: Judge | None = None,
               judged: dict[str, tuple[Finding, ...]] | None = None,
               ) -> dict[str, FileResult]:
    """Each document's result, from the cache or checked now; `blobs` gets their blob ids
    and `judged` the policy findings of documents checked now (when there is a judge)."""
    results: dict[str, FileResult] = {}
    todo: list[str] = []
    for rel in rels:
        # A path never seen before cannot hit: the worker hashes it while it reads it anyway.
        blob = cache.blob_of(f"{root}/{rel}", rel) if cache.has(rel) else None
        hit = cache.get(rel, blob) if blob else None
        if type(hit) is FileResult:  # else a miss (what a damaged entry is too)
            results[rel] = hit
            blobs[rel] = blob  # type: ignore[assignment]
        else:
            todo.append(rel)
    if judge is not None:  # a customer's facts come from its result, not a second parse
        judge.customers.results = results
    work = Work(root, cache.enabled, judge)
    for rel, checked in zip(todo, _run(work, todo, jobs), strict=True):
        results[rel] = checked.result
        # A document in a linked folder is looked at anew each run (see in_linked_folder).
        kept = None if not cache.enabled or cache.in_linked_folder(rel) else checked.blob
        if kept is None and cache.enabled:  # read, and nothing to record (not hashed either)
            cache.unrecorded(rel)
        if kept is not None:
            blobs[rel] = kept[0]
        if checked.judged is not None and judged is not None:
            judged[rel] = checked.judged
        if not checked.result.facts.get("unchecked"):  # see targeting.py: never kept
            _store(cache, rel, kept, _lean(checked.result))
        for dataset in checked.datasets:
            # This run's verdict: the cross-check reads it here, without a stat of its own.
            cache.session[dataset.rel + _DATASET] = dataset.findings
            _store(cache, dataset.rel, dataset.blob, dataset.findings, _DATASET)
    return results


def _store(cache: ResultCache, rel: str, blob: Blob | None, value: object, kind: str = "") -> None:
    if blob is not None:
        cache.remember(rel, *blob)
        cache.put(rel + kind, blob[0], value)


def _lean(result: FileResult) -> FileResult:
    """What the cache keeps: not the document data policies read (a few KB per document,
    read again in the rare run that has to judge a cached document anew)."""
    if "data" not in result.facts:
        return result
    return FileResult(result.findings, {k: v for k, v in result.facts.items() if k != "data"})


_DATASET = "\0dataset"  # datasets' results live under their own key (a path may be both)
Blob = tuple[str, os.stat_result]


class Work(NamedTuple):
    """What checking a document needs besides its path (inherited by forked workers)."""

    root: str
    hashing: bool  # the cache is on: hash what is read
    judge: Judge | None  # judge documents as they are checked
    send_data: bool = False  # workers send document data back (this process judges)


class _Dataset(NamedTuple):
    rel: str
    blob: Blob | None
    findings: tuple[Finding, ...]


class Checked(NamedTuple):
    result: FileResult
    blob: Blob | None
    datasets: tuple[_Dataset, ...] = ()
    judged: tuple[Finding, ...] | None = None  # policy findings, before waivers


_worker_work: Work | None = None  # set in each worker process by _start_worker


def _start_worker(work: Work) -> None:
    global _worker_work
    _worker_work = work
    # A check leaves almost no cycles behind, yet allocates enough to run the young
    # collection every few fields: collect rarely (about 5% of a worker's time).
    gc.set_threshold(20_000, 50, 100)


def _worker_chunk(rels: list[str]) -> list[Checked]:
    assert _worker_work is not None
    checked = _check_chunk(_worker_work, rels)
    if _worker_work.send_data:
        return checked
    # Judged here, or not at all: the data (a few KB each) need not travel back.
    return [c._replace(result=_lean(c.result)) for c in checked]


def _run(work: Work, rels: list[str], jobs: int) -> Iterator[Checked]:
    """Each document's Checked, in order; from worker processes when there are many, as
    they come (the caller stores each while the workers go on)."""
    workers = jobs or os.cpu_count() or 1
    if workers <= 1 or len(rels) < _PARALLEL_MIN_FILES:
        yield from _check_chunk(work, rels)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor


    # fork: workers inherit the imported modules and the compiled rules instead of
    # building them again. Without fork the rules would not cross (compiled CEL does not
    # pickle): the workers leave judging to this process.
    forking = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if forking else None)
    if not forking:  # pragma: no cover - Windows
        work = Work(work.root, work.hashing, None, send_data=work.judge is not None)
    elif work.judge is not None:
        work.judge.prepare()
    chunks = [rels[i:i + _CHUNK] for i in range(0, len(rels), _CHUNK)]
    # Frozen objects are never scanned, so the workers' collections neither spend time on
    # what they inherit nor touch (and so copy) its pages. validate() unfreezes.
    gc.freeze()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_start_worker, initargs=(work,))
    try:
        for part in pool.map(_worker_chunk, chunks):
            yield from part
    finally:  # also when the caller stops early: drop the chunks not started yet
        pool.shutdown(wait=True, cancel_futures=True)


def _check_chunk(work: Work, rels: list[str]) -> list[Checked]:
    return [_check_one(work, rel) for rel in rels]


def _check_one(work: Work, rel: str) -> Checked:
    """Check a document, hash it (for the cache), judge it (policies) and check the
    datasets it points at: in the worker, so a cold run does all of it in parallel and the
    cross-check finds the datasets cached."""
    from pipeline.validate.checks import check_parsed

    root = work.root
    raw, blob = _read_document(os.path.join(root, rel)) if work.hashing else (None, None)
    result, loaded = check_parsed(root, rel, raw)
    judged = work.judge.judge_parsed(rel, result, loaded) if work.judge is not None else None
    if result.facts.get("kind") != "Priority":
        return Checked(result, blob, (), judged)
    datasets = []
    for ref, _, _, _, what in result.facts.get("refs", []):
        if what == "dataset":
            found = _worker_dataset(root, rel, ref, work.hashing)
            if found is not None:
                datasets.append(found)
    return Checked(result, blob, tuple(datasets), judged)


def _read_document(abs_path: str) -> tuple[bytes | None, Blob | None]:
    """A document's bytes and blob, or (None, None) when it is unreadable or too large:
    the loader then reads it itself and says why."""
    read = read_bounded(abs_path, _MAX_DOCUMENT_BYTES)
    return (None, None) if read is None else read


def _worker_dataset(root: str, rel: str, ref: str, hashing: bool) -> _Dataset | None:
    base = os.path.dirname(rel)
    fast = _plain_file_ref(_real_root(root), base, ref)
    if fast is not None:
        abs_path, ref_rel = fast[0], fast[1]
    else:
        try:
            abs_path, ref_rel = resolve_inside(root, base, ref)
        except InputError:
            return None
        if not os.path.isfile(abs_path):
            return None
    if not hashing:
        return _Dataset(ref_rel, None, _dataset_findings(abs_path, ref_rel))
    from pipeline.documents.dataset import MAX_DATASET_BYTES

    read = read_bounded(abs_path, MAX_DATASET_BYTES)
    if read is None:
        return None
    raw, blob = read
    return _Dataset(ref_rel, blob, _dataset_findings(abs_path, ref_rel, raw))


@functools.cache
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _cross_check(root: str, targets: list[str], results: dict[str, FileResult],
                 cache: ResultCache, probes: dict[str, str] | None = None) -> list[Finding]:
    """Findings across files. `probes` gets what was seen at each path looked at outside
    the folders the walk lists (see memo.probe)."""
    findings: list[Finding] = []
    for rel in targets:
        facts = results[rel].facts
        if facts.get("kind") != "Priority":
            continue
        customer = customer_of(rel)
        customer_facts = results.get(f"{CUSTOMERS}/{customer}/customer.yaml")
        found = _customer_refs(rel, customer, facts, customer_facts)
        found += _dataset_refs(root, rel, facts, cache, probes)
        found += _input_refs(root, rel, facts, probes)
        if found:
            findings.extend(found)
    return findings


def _customer_refs(rel: str, customer: str | None, facts: dict[str, object],
                   customer_result: FileResult | None) -> list[Finding]:
    if customer_result is None:
        return [Finding(rel, 1, 1, "", f"customer '{customer}' has no customer.yaml "
                        f"(expected {CUSTOMERS}/{customer}/customer.yaml)")]
    if customer_result.facts.get("kind") != "Customer":
        return []  # the customer file has its own findings
    held = customer_result.facts.get("roles", {})
    out = []
    for role, field_path, line, col in facts.get("roles_needed", []):  # type: ignore[attr-defined]
        if not held.get(role):
            out.append(Finding(rel, line, col, field_path,
                               f"no one at customer '{customer}' holds role '{role}'"))
    return out


def _dataset_refs(root: str, rel: str, facts: dict[str, object],
                  cache: ResultCache, probes: dict[str, str] | None) -> list[Finding]:
    out: list[Finding] = []
    base = rel.rpartition("/")[0]
    for ref, field_path, line, col, what in facts.get("refs", []):  # type: ignore[attr-defined]
        if what != "dataset" and _plain(ref) and cache.is_regular(os.path.join(root, base), ref):
            continue  # discover's scan of the folder saw a regular file: nothing to report
        checked = cache.session.get(f"{base}/{ref}{_DATASET}") \
            if what == "dataset" and _plain(ref) else None
        if checked is not None:  # a worker read it moments ago
            out.extend(checked)
            continue
        fast = _plain_file_ref(cache.real_root, base, ref)
        if fast is not None:
            abs_path, ref_rel, st = fast
            if what == "dataset":
                out.extend(_cached_dataset(abs_path, ref_rel, cache, st))
            continue
        _probe(probes, os.path.join(root, base, ref))
        try:
            abs_path, ref_rel = resolve_inside(root, base, ref)
        except InputError as e:
            out.append(Finding(rel, line, col, field_path, e.detail))
            continue
        if not os.path.isfile(abs_path):
            out.append(Finding(rel, line, col, field_path, f"{what} '{ref_rel}' does not exist"))
        elif what == "dataset":
            out.extend(_cached_dataset(abs_path, ref_rel, cache))
    return out


def _input_refs(root: str, rel: str, facts: dict[str, object],
                probes: dict[str, str] | None) -> list[Finding]:
    """Declared inputs exist inside the repository, and a dataset outside the priority
    folder is one of them (else a change to it would not change the fingerprint)."""
    out: list[Finding] = []
    inputs = []
    for ref, field_path, line, col in facts.get("inputs", []):  # type: ignore[attr-defined]
        key = priority_of(rel)
        _probe(probes, os.path.join(root, ref))
        try:
            inputs.append(resolve_input(root, ref))
            clash = overlap(key, inputs[-1].rel) if key else None
            if clash:
                out.append(Finding(rel, line, col, field_path, clash))
        except InputError as e:
            out.append(Finding(rel, line, col, field_path, e.detail))
    key = priority_of(rel)
    for ref, field_path, line, col, what in facts.get("refs", []):  # type: ignore[attr-defined]
        if what != "dataset" or _plain(ref) or key is None:
            continue
        try:
            _, ref_rel = resolve_inside(root, rel.rpartition("/")[0], ref)
        except InputError:
            continue  # _dataset_refs reports it
        reason = outside_reason(key, ref_rel, tuple(inputs))
        if reason is not None:
            out.append(Finding(rel, line, col, field_path, reason))
    return out


def _probe(probes: dict[str, str] | None, path: str) -> None:
    if probes is not None and path not in probes:
        probes[path] = memo.probe(path)


def _plain_file_ref(real_root: str, base: str, ref: str) -> tuple[str, str, os.stat_result] | None:
    """The common case without resolve_inside's realpath calls: a bare file name in a
    discovered (so symlink-free) folder that lstat shows is a regular file. Anything else
    returns None and takes the full path."""
    if not _plain(ref):
        return None
    abs_path = f"{real_root}/{base}/{ref}"
    try:
        st = os.lstat(abs_path)
    except (OSError, ValueError):
        return None
    return (abs_path, f"{base}/{ref}", st) if stat.S_ISREG(st.st_mode) else None


def _plain(ref: str) -> bool:
    """A bare file name: no folder, no drive, not . or .."""
    return bool(ref) and "/" not in ref and "\\" not in ref and ref not in (".", "..") \
        and ref[1:2] != ":"


def _cached_dataset(abs_path: str, rel: str, cache: ResultCache,
                    st: os.stat_result | None = None) -> tuple[Finding, ...]:
    blob = cache.blob_of(abs_path, rel, st)
    cached = cache.get(rel + _DATASET, blob) if blob else cache.session.get(rel + _DATASET)
    if type(cached) is not tuple:
        cached = _dataset_findings(abs_path, rel)
        if blob:
            cache.put(rel + _DATASET, blob, cached)
    return tuple(cached)


def _dataset_findings(abs_path: str, rel: str, raw: bytes | None = None
                      ) -> tuple[Finding, ...]:
    from pipeline.documents.dataset import parse_dataset, read_dataset

    try:
        if raw is None:
            read_dataset(abs_path, rel)
        else:
            parse_dataset(raw, rel)
    except InputError as e:
        return (Finding(e.path or rel, e.line or 1, e.col or 1, "", e.detail),)
    return ()
