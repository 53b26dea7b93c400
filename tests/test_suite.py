"""The test suite's own machinery: what tests/conftest.py sets up for every test."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import get_hasher


def test_passwords_hash_fast_in_tests() -> None:
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert get_hasher().algorithm == "md5"
