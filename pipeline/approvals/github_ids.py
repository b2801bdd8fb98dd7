"""`ailoop people github-ids`: look up the numeric GitHub account id of every person in a
customer.yaml who has a `github` login, report ids that no longer match the login, and add
the missing ones (`githubId`) to the file.

The file is edited line by line (pipeline.documents.yamledit), so comments and layout stay;
where its layout does not allow that, the lines to add are printed instead. Recorded ids are
never changed: a login that now belongs to another account needs a person to find out why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.approvals.github import Account, account, account_by_id
from pipeline.approvals.rest import Rest
from pipeline.documents.load import load_customer
from pipeline.documents.yamledit import NewKey, add_keys
from pipeline.fsio import write_atomic
from pipeline.model.customer import Person

OK, ADD, PROBLEM = "ok", "add", "problem"


@dataclass(frozen=True)
class PersonId:
    index: int  # position in spec.people
    person: str
    login: str
    state: str  # OK | ADD | PROBLEM
    found: int | None  # the id of the account that holds the login now
    text: str  # what to tell the user


@dataclass(frozen=True)
class IdsResult:
    path: str  # customers/<c>/customer.yaml
    people: tuple[PersonId, ...]
    line_of: dict[int, int]  # person index -> line of its github key
    written: bool  # the ids to add were added to the file
    by_hand: bool  # --write could not edit the file safely

    @property
    def to_add(self) -> tuple[PersonId, ...]:
        return tuple(p for p in self.people if p.state == ADD)

    @property
    def problems(self) -> bool:
        return self.by_hand or any(p.state == PROBLEM for p in self.people)


def github_ids(root: str, customer: str, rest: Rest, *, write: bool) -> IdsResult:
    """Look every login up; with WRITE, add the missing ids to customer.yaml."""
    doc = load_customer(root, customer)
    rel = doc.path
    people = [look_up(rest, i, p) for i, p in enumerate(doc.model.spec.people) if p.github]
    lines = {p.index: doc.pos("spec", "people", p.index, "github")[0] for p in people}
    result = IdsResult(rel, tuple(people), lines, written=False, by_hand=False)
    if not write or not result.to_add:
        return result
    edited = add_keys(_read(root, rel), rel, [
        NewKey(("spec", "people", p.index, "github"), "githubId", str(p.found))
        for p in result.to_add])
    if edited is None:
        return IdsResult(rel, result.people, lines, written=False, by_hand=True)
    write_atomic(os.path.join(root, rel), edited)
    return IdsResult(rel, result.people, lines, written=True, by_hand=False)


def _read(root: str, rel: str) -> str:
    with open(os.path.join(root, rel), encoding="utf-8", newline="") as fh:
        return fh.read()


def look_up(rest: Rest, index: int, person: Person) -> PersonId:
    login = person.github or ""
    holder = account(rest, login)
    recorded = person.github_id
    if holder is None:
        text = f"no GitHub account has the login {login}"
        if recorded is not None:
            text += f"; githubId {recorded} is {_describe(account_by_id(rest, recorded))}"
        return PersonId(index, person.id, login, PROBLEM, None, text)
    if recorded is None:
        created = f", created {holder.created_at}" if holder.created_at else ""
        return PersonId(index, person.id, login, ADD, holder.id,
                        f"to add githubId: {holder.id} ({holder.login}{created})")
    if recorded == holder.id:
        return PersonId(index, person.id, login, OK, holder.id,
                        f"githubId {recorded} matches {holder.login}")
    return PersonId(index, person.id, login, PROBLEM, holder.id,
                    f"customer.yaml records githubId {recorded}, but {login} is now "
                    f"{_describe(holder)}; githubId {recorded} is "
                    f"{_describe(account_by_id(rest, recorded))}. Left as it is: find out "
                    "who holds the login before changing either")


def _describe(found: Account | None) -> str:
    if found is None:
        return "no longer an account"
    created = f", created {found.created_at}" if found.created_at else ""
    return f"account {found.id} ({found.login}{created})"


def render(result: IdsResult) -> str:
    lines = [f"{result.path}:{result.line_of[p.index]}: {p.person}: {p.text}"
             for p in result.people]
    count = len(result.to_add)
    if result.written:
        lines.append(f"added {count} githubId line{'s' if count != 1 else ''} to {result.path}")
    elif result.by_hand:
        lines.append(f"{result.path}: its layout does not allow a safe edit (flow style or a "
                     "value over several lines); add these lines by hand, each below the "
                     "person's github line:")
        lines += [f"  {p.person}: githubId: {p.found}" for p in result.to_add]
    elif count:
        lines.append(f"{count} githubId line{'s' if count != 1 else ''} to add; run again "
                     "with --write to add them")
    elif not result.people:
        lines.append(f"{result.path}: nobody has a github login")
    else:
        lines.append("nothing to add")
    return "\n".join(lines)
