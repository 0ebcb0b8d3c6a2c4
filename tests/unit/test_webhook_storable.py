"""What the receiver accepts as a storable string and as a git ref, against independent oracles:
the characters themselves, and `git check-ref-format`."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.storable import is_git_ref, is_storable

#: Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out otherwise).
ANY_CHAR = st.characters(codec=None, exclude_categories=())
#: What makes refs interesting: every rule of `check-ref-format` has a character here.
REF_CHARS = st.sampled_from([*"ab/.@{}~^:?*[\\ -_é\x01\x7f", "lock", "refs/heads/"])


def _surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


@given(st.text(ANY_CHAR))
def test_storable_means_no_nul_and_no_lone_surrogate(text: str) -> None:
    bad = "\x00" in text or any(_surrogate(c) for c in text)
    assert is_storable(text) is not bad
    if is_storable(text):
        assert text.encode("utf-8").decode("utf-8") == text


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("refs/heads/main", True),
        ("refs/heads/feature/é-ünïcode", True),
        ("refs/tags/v1.0", True),
        ("refs/heads/\ud800", False),
        ("refs/heads/a\x00b", False),
        ("main", False),
        ("refs/heads/a..b", False),
        ("refs/heads/.hidden", False),
        ("refs/heads/x.lock", False),
        ("refs/heads/x.", False),
        ("refs/heads//x", False),
        ("refs/heads/x/", False),
        ("/refs/heads/x", False),
        ("refs/heads/a@{1}", False),
        ("refs/heads/a b", False),
        ("refs/heads/a\tb", False),
        ("refs/heads/a~1", False),
    ],
)
def test_git_ref_examples(name: str, ok: bool) -> None:
    assert is_git_ref(name) is ok


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=150, deadline=None)
@given(st.lists(REF_CHARS, min_size=1, max_size=8).map("".join).filter(lambda n: n[0] != "-"))
def test_git_ref_agrees_with_git(name: str) -> None:
    """(A leading "-" is not tried: git's command line would read it as an option.)"""
    git = subprocess.run(["git", "check-ref-format", name], capture_output=True, check=False)
    assert is_git_ref(name) is (git.returncode == 0), name
