from __future__ import annotations

import httpx
import pytest

from pipeline.approvals.rest import rate_limit_wait

NOW = 1_900_000_000.0


def answer(status: int, headers: dict[str, str], message: str = "") -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"message": message})


@pytest.mark.parametrize(("response", "tries", "expected"), [
    (answer(200, {"x-ratelimit-remaining": "0"}), 1, None),
    (answer(403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration"),
     1, None),
    (answer(404, {"retry-after": "5"}), 1, None),
    (answer(403, {"retry-after": "7", "x-ratelimit-remaining": "0",
                  "x-ratelimit-reset": str(int(NOW) + 900)}), 1, (7.0, "secondary rate limit")),
    (answer(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 50)}), 1,
     (50.0, "the primary rate limit is used up")),
    (answer(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}), 1,
     (0.0, "the primary rate limit is used up")),
    (answer(403, {"x-ratelimit-remaining": "40"},
            "You have exceeded a secondary rate limit."), 1, (60.0, "secondary rate limit")),
    (answer(429, {}), 3, (240.0, "secondary rate limit")),
    (answer(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), 1,
     (60.0, "secondary rate limit")),
])
def test_rate_limit_waits_follow_githubs_rules(response: httpx.Response, tries: int,
                                              expected: tuple[float, str] | None) -> None:
    assert rate_limit_wait(response, tries, NOW) == expected
