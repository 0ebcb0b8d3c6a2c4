"""blob_sha must equal git's own hash, or a folder and a GitHub tree would never agree."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.sync.entries import blob_sha, is_lfs_pointer

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git_hash(data: bytes) -> str:
    return (
        subprocess.run(
            ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )


def test_known_values() -> None:
    # Well-known: the empty blob and "hello world\n" (git's own documentation examples).
    assert blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert blob_sha(b"hello world\n") == "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"


@needs_git
@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"\0\xff\x00binary", "naïve ünïcode\r\n".encode(), b"x" * 100_000],
)
def test_matches_git_hash_object(data: bytes) -> None:
    assert blob_sha(data) == git_hash(data)


@needs_git
@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=2000))
def test_matches_git_for_arbitrary_bytes(data: bytes) -> None:
    assert blob_sha(data) == git_hash(data)


def test_lfs_pointer_detected() -> None:
    assert is_lfs_pointer(LFS_POINTER)
    assert is_lfs_pointer(LFS_POINTER.replace(b"\n", b"\r\n"))
    legacy = LFS_POINTER.replace(b"git-lfs.github.com", b"hawser.github.com")
    assert is_lfs_pointer(legacy)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"name: x\n",
        LFS_POINTER.replace(b"oid sha256:", b"oid md5:"),  # no sha256 oid
        LFS_POINTER.replace(b"size 12345", b"size big"),  # size is not a number
        b"# notes\n" + LFS_POINTER,  # does not start with the version line
        LFS_POINTER + b"x" * 1024,  # far too big for a pointer
    ],
)
def test_not_lfs_pointer(data: bytes) -> None:
    assert not is_lfs_pointer(data)
