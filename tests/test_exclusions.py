"""Excluded-route globs match as the recorder matches them (sdk-js/src/rules.ts): a path
that a server would read as excluded is excluded, however it is spelled."""

from __future__ import annotations

import pytest

from collector.exclusions import ExcludedRoutes

ROUTES = ExcludedRoutes(["/volunteers/**"])


@pytest.mark.parametrize(
    "path",
    [
        "/volunteers",
        "/volunteers/",
        "/Volunteers/7/shifts",
        "//volunteers//7",
        "/%76olunteers/7",
        "/%76olunteers/42/%E0%A4%A",  # one malformed escape does not stop the others
        "/volunteers;jsessionid=A1B2/42/profile",  # a path parameter
        "/%76olunteers;x=1/42",
    ],
)
def test_every_spelling_of_an_excluded_path_is_excluded(path: str) -> None:
    assert ROUTES.excluded(path)


@pytest.mark.parametrize("path", ["/volunteersx", "/patients/volunteers", "/", "/v/olunteers"])
def test_other_paths_are_not(path: str) -> None:
    assert not ROUTES.excluded(path)
