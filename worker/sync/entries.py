"""Tree entries as git records them: path, file mode and blob SHA, plus Git LFS pointer detection.

A local folder and a GitHub tree are both turned into these entries, hashed the way
`git hash-object` hashes, so the two name the same content the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MODE_FILE = "100644"
MODE_EXEC = "100755"
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
MODE_TREE = "040000"

#: Modes of regular files; only these can be items or manifests.
FILE_MODES = frozenset({MODE_FILE, MODE_EXEC, "100664"})  # 100664: ancient git, still valid

# Pointer files are tiny; git-lfs itself refuses to treat anything of 1024 bytes or more as one.
_LFS_MAX_POINTER_BYTES = 1024
_LFS_VERSION_PREFIXES = (
    b"version https://git-lfs.github.com/spec/",
    b"version https://hawser.github.com/spec/",  # the pre-1.0 name of the spec
)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of a git tree listing (GitHub's recursive tree, or a folder walk)."""

    path: str
    sha: str
    mode: str = MODE_FILE
    size: int | None = None


def blob_sha(data: bytes) -> str:
    """The SHA-1 `git hash-object` gives `data`: sha1(b"blob <len>\\0" + data), hex."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def is_lfs_pointer(data: bytes) -> bool:
    """True when `data` is a Git LFS pointer (the real file lives elsewhere, so it is not ours).

    A pointer is small text that starts with the spec's `version` line and carries an
    `oid sha256:` and a `size` line (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
    """
    if len(data) >= _LFS_MAX_POINTER_BYTES or not data.startswith(_LFS_VERSION_PREFIXES):
        return False
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    has_oid = any(line.startswith(b"oid sha256:") for line in lines[1:])
    has_size = any(line.startswith(b"size ") and line[5:].strip().isdigit() for line in lines[1:])
    return has_oid and has_size
