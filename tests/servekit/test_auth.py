"""The bearer API-key check both services make."""

from __future__ import annotations

import pytest

from servekit import bearer_matches


@pytest.mark.parametrize(
    "authorization",
    ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret ", "Bearer s3cret\t"],
)
def test_the_key_is_accepted_with_the_scheme_in_any_case(authorization: str) -> None:
    assert bearer_matches(authorization, "s3cret")


@pytest.mark.parametrize(
    "authorization",
    ["", "s3cret", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret"],
)
def test_anything_else_is_refused(authorization: str) -> None:
    assert not bearer_matches(authorization, "s3cret")


def test_a_key_outside_ascii_is_compared_as_utf8() -> None:
    assert bearer_matches("Bearer clé", "clé")
    assert not bearer_matches("Bearer cle", "clé")
