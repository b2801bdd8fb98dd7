"""`ailoop validate`: every document, every cross-reference, every finding at once."""

from __future__ import annotations

import functools
import gc
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.cache import ResultCache, read_blob
from pipeline.checks import FileResult
from pipeline.errors import InputError
from pipeline.findings import Finding, sort_findings
from pipeline.layout import (
    CUSTOMERS,
    PROJECT_FILE,
    customer_of,
    discover,
    priority_of,
    resolve_inside,
)

_PARALLEL_MIN_FILES = 200
_CHUNK = 64
# Set to 1 by the benchmark harness only, to measure what policies and guardrails cost.
NO_POLICIES_ENV = "AILOOP_BENCH_NO_POLICIES"
_MAX_DOCUMENT_BYTES = 1024 * 1024  # pipeline.yamlio.MAX_YAML_BYTES (not imported: PyYAML)


@dataclass(frozen=True)
class ValidateOptions:
    root: str
    paths: tuple[str, ...] = ()
    changed: tuple[str, ...] | None = None  # repo-relative paths changed since a ref
    use_cache: bool = True
    jobs: int = 0  # 0: one per core
    now: datetime | None = None  # the clock for waiver expiry; None: the real UTC time


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


def _validate(options: ValidateOptions) -> ValidationReport:
    root = options.root
    cache = ResultCache(root, "validate", options.use_cache)
    documents = discover(root, cache.scan)
    if not os.path.isfile(os.path.join(root, PROJECT_FILE)):
        missing = Finding(PROJECT_FILE, 1, 1, "", "repository has no ailoop.yaml "
                          "(run `ailoop init` to create one)")
        return ValidationReport([missing], 0)
    targets = _select(root, documents, options)
    context = _context_for(targets, documents)
    blobs: dict[str, str] = {}
    locs = functools.partial(_rule_locs, root, documents)
    results = _check_all(root, sorted(set(targets) | context), cache, options.jobs, blobs, locs)
    findings: list[Finding] = []
    for rel in targets:
        findings.extend(results[rel].findings)
    findings.extend(_cross_check(root, targets, results, cache))
    findings.extend(_policies(root, documents, targets, results, options.now, cache, blobs))
    cache.save()
    return ValidationReport(sort_findings(findings), len(targets))


def _policies(root: str, documents: list[str], targets: list[str],
              results: dict[str, FileResult], now: datetime | None, cache: ResultCache,
              blobs: dict[str, str]) -> list[Finding]:
    if os.environ.get(NO_POLICIES_ENV) == "1":
        return []  # benchmarks/run.py only: what policies add to a run
    from pipeline.policy.cached import PolicyCache
    from pipeline.policy.repo import policy_findings

    return policy_findings(root, documents, targets, results, now or datetime.now(UTC),
                           PolicyCache(root, documents, cache, blobs))


def _rule_locs(root: str, documents: list[str]) -> tuple[Loc, ...]:
    if os.environ.get(NO_POLICIES_ENV) == "1":
        return ()
    from pipeline.policy.repo import rule_locs

    return rule_locs(root, documents)


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
    """Documents the targets' cross-checks read: the customers of target priorities."""
    available = set(documents)
    needed = set()
    for rel in targets:
        customer = customer_of(rel)
        if customer:
            path = f"{CUSTOMERS}/{customer}/customer.yaml"
            if path in available:
                needed.add(path)
    return needed


def _check_all(root: str, rels: list[str], cache: ResultCache, jobs: int,
               blobs: dict[str, str],
               locs: Callable[[], tuple[Loc, ...]] = tuple) -> dict[str, FileResult]:
    """Each document's result, from the cache or checked now; `blobs` gets their blob ids."""
    results: dict[str, FileResult] = {}
    todo: list[str] = []
    for rel in rels:
        # A path never seen before cannot hit: the worker hashes it while it reads it anyway.
        blob = cache.blob_of(os.path.join(root, rel), rel) if cache.has(rel) else None
        hit = cache.get(rel, blob) if blob else None
        if hit is not None:
            results[rel] = hit
            blobs[rel] = blob  # type: ignore[assignment]
        else:
            todo.append(rel)
    at = locs() if todo else ()
    for rel, checked in zip(todo, _run(root, todo, jobs, cache.enabled, at), strict=True):
        results[rel] = checked.result
        if checked.blob is not None and cache.enabled:
            blobs[rel] = checked.blob[0]
        _store(cache, rel, checked.blob, _lean(checked.result))
        for dataset in checked.datasets:
            if dataset.blob is None:
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
    if "data" not in result.facts and "at" not in result.facts:
        return result
    return FileResult(result.findings, {k: v for k, v in result.facts.items()
                                        if k not in ("data", "at")})


_DATASET = "\0dataset"  # datasets' results live under their own key (a path may be both)
Blob = tuple[str, os.stat_result]
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Dataset:
    rel: str
    blob: Blob | None
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class _Checked:
    result: FileResult
    blob: Blob | None
    datasets: tuple[_Dataset, ...] = ()


def _run(root: str, rels: list[str], jobs: int, hashing: bool,
         locs: tuple[Loc, ...] = ()) -> list[_Checked]:
    workers = jobs or os.cpu_count() or 1
    if workers <= 1 or len(rels) < _PARALLEL_MIN_FILES:
        return _check_chunk(root, rels, hashing, locs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pipeline.checks
    import pipeline.load
    import pipeline.policy.facts  # noqa: F401  (imported once here, inherited by the workers)

    # fork: workers inherit the imported, built models instead of importing them again.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    chunks = [rels[i:i + _CHUNK] for i in range(0, len(rels), _CHUNK)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        out: list[_Checked] = []
        for part in pool.map(_check_chunk, [root] * len(chunks), chunks,
                             [hashing] * len(chunks), [locs] * len(chunks)):
            out.extend(part)
    return out


def _check_chunk(root: str, rels: list[str], hashing: bool = True,
                 locs: tuple[Loc, ...] = ()) -> list[_Checked]:
    return [_check_one(root, rel, hashing, locs) for rel in rels]


def _check_one(root: str, rel: str, hashing: bool = True, locs: tuple[Loc, ...] = ()) -> _Checked:
    """Check a document, hash it (for the cache), and check the datasets it points at (in
    the worker, so a cold run parses datasets in parallel; the cross-check then finds them
    cached)."""
    from pipeline.checks import check_file

    blob = read_blob(os.path.join(root, rel), _MAX_DOCUMENT_BYTES) if hashing else None
    result = check_file(root, rel, locs)
    if result.facts.get("kind") != "Priority":
        return _Checked(result, blob)
    datasets = []
    for ref, _, _, _, what in result.facts.get("refs", []):
        if what != "dataset":
            continue
        try:
            abs_path, ref_rel = resolve_inside(root, os.path.dirname(rel), ref)
        except InputError:
            continue
        if not os.path.isfile(abs_path):
            continue
        dataset_blob = read_blob(abs_path) if hashing else None
        if dataset_blob is not None or not hashing:
            datasets.append(_Dataset(ref_rel, dataset_blob, _dataset_findings(abs_path, ref_rel)))
    return _Checked(result, blob, tuple(datasets))


def _cross_check(root: str, targets: list[str], results: dict[str, FileResult],
                 cache: ResultCache) -> list[Finding]:
    findings: list[Finding] = []
    for rel in targets:
        facts = results[rel].facts
        if facts.get("kind") != "Priority":
            continue
        customer = customer_of(rel)
        customer_facts = results.get(f"{CUSTOMERS}/{customer}/customer.yaml")
        findings.extend(_customer_refs(rel, customer, facts, customer_facts))
        findings.extend(_dataset_refs(root, rel, facts, cache))
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
                  cache: ResultCache) -> list[Finding]:
    out: list[Finding] = []
    base = os.path.dirname(rel)
    for ref, field_path, line, col, what in facts.get("refs", []):  # type: ignore[attr-defined]
        if what != "dataset" and _plain(ref) and cache.is_regular(os.path.join(root, base), ref):
            continue  # discover's scan of the folder saw a regular file: nothing to report
        fast = _plain_file_ref(cache.real_root, base, ref)
        if fast is not None:
            abs_path, ref_rel, st = fast
            if what == "dataset":
                out.extend(_cached_dataset(abs_path, ref_rel, cache, st))
            continue
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
    if cached is None:
        cached = _dataset_findings(abs_path, rel)
        if blob:
            cache.put(rel + _DATASET, blob, cached)
    return tuple(cached)


def _dataset_findings(abs_path: str, rel: str) -> tuple[Finding, ...]:
    from pipeline.dataset import read_dataset

    try:
        read_dataset(abs_path, rel)
    except InputError as e:
        return (Finding(e.path or rel, e.line or 1, e.col or 1, "", e.detail),)
    return ()
