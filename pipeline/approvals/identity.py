"""Is a reviewer who they say they are? A review counts for a person in customer.yaml only
when the account's numeric id is the one recorded for them (`githubId`, where recorded: a
login can be deleted and registered again by someone else) and the account has access to
the repository. Access is the review's `author_association` (OWNER, MEMBER, COLLABORATOR),
else what the collaborator endpoints confirm; read access is enough, as customer reviewers
need no push rights. What cannot be verified does not count."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pipeline.approvals.github import GitHubApi, Review
from pipeline.approvals.rest import HttpError
from pipeline.errors import ExternalError
from pipeline.model.customer import Person

WITH_ACCESS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_NOT_IN_CUSTOMER = "not a person with a github login in customer.yaml on the base branch"


class AccessCheck(Protocol):
    def problem(self, review: Review) -> str:
        """Why the reviewer's access to the repository is not confirmed ("" when it is)."""
        ...


def reviewer_problem(review: Review, person: Person | None, people: Iterable[Person],
                     access: AccessCheck) -> str:
    """Why REVIEW does not count for PERSON (the person its login maps to); "" when the
    reviewer is verified. Identity first: access is asked of GitHub only for a match."""
    if person is None:
        owner = next((p for p in people if review.user_id is not None
                      and p.github_id == review.user_id), None)
        renamed = "" if owner is None else (
            f" (GitHub account {review.user_id} is {owner.id}'s githubId: was the login "
            "renamed? Update github in customer.yaml)")
        return f"review by {review.login}: {_NOT_IN_CUSTOMER}{renamed}"
    return id_problem(review, person) or access.problem(review)


def id_problem(review: Review, person: Person) -> str:
    if person.github_id is None:
        return ""
    if review.user_id is None:
        return f"cannot verify reviewer {review.login}: GitHub sent no account id with the review"
    if review.user_id == person.github_id:
        return ""
    return (f"review by {review.login}: GitHub account {review.user_id} is not {person.id}'s "
            f"(customer.yaml records githubId {person.github_id}); the login may have been "
            "deleted and registered again by someone else")


class RepoAccess:
    """Access to the repository, asked of GitHub at most once per login and only for
    reviewers whose association does not show it."""

    def __init__(self, api: GitHubApi) -> None:
        self._api = api
        self._known: dict[str, str] = {}

    def problem(self, review: Review) -> str:
        if review.association in WITH_ACCESS:
            return ""
        key = review.login.lower()
        if key not in self._known:
            self._known[key] = self._ask(review)
        return self._known[key]

    def _ask(self, review: Review) -> str:
        login, repo = review.login, self._api.repo
        try:
            permission = self._api.permission(login)
            collaborator = permission != "none" and (
                permission in ("admin", "write") or self._api.is_collaborator(login))
        except HttpError as e:
            if e.status in (403, 404):
                return _unverifiable(login, repo, e.status)
            raise ExternalError(f"cannot verify reviewer {login}: {e}") from None
        except ExternalError as e:
            raise ExternalError(f"cannot verify reviewer {login}: {e}") from None
        if collaborator:
            return ""
        association = review.association or "missing"
        if permission == "none":
            return (f"review by {login}: {login} has no access to {repo} (author association "
                    f"{association}, permission none)")
        return (f"review by {login}: {login} is not a collaborator on {repo} (author "
                f"association {association}); the read permission GitHub reports is what "
                "every account has on a public repository")


def _unverifiable(login: str, repo: str, status: int) -> str:
    if status == 403:
        why = ("GitHub refused to show their permission on the repository (HTTP 403): the token "
               "needs read access to the repository's metadata")
    else:
        why = (f"GitHub answered HTTP 404 for their permission on {repo}: the account may no "
               "longer exist, or the token cannot see the repository")
    return f"cannot verify reviewer {login}: {why}"
