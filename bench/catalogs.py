"""Synthetic catalogs of any size, as folders (and git repositories) for the benchmarks."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import time
import zlib
from pathlib import Path

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def item_text(i: int, version: int = 0) -> str:
    """A realistic SKILL.md of a few hundred bytes."""
    return (
        f"---\nname: skill-{i:06d}\ndescription: Benchmark skill {i} (v{version})\n"
        f"tags: [bench, group-{i % 17}]\nauthor: user{i % 50}\nteam: team{i % 7}\n---\n\n"
        f"# Skill {i}\n\nDoes thing {i}. " + "Lorem ipsum dolor sit amet. " * 8 + "\n"
    )


def make_folder(root: Path, items: int) -> Path:
    """`items` folder skills (`skills/sNNNNNN/SKILL.md`) under `root`."""
    for i in range(items):
        folder = root / "skills" / f"s{i:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SKILL.md").write_text(item_text(i))
    return root


def touch_items(root: Path, count: int, version: int) -> list[str]:
    """Change `count` items' content; returns their paths."""
    paths = []
    for i in range(count):
        path = root / "skills" / f"s{i:06d}" / "SKILL.md"
        path.write_text(item_text(i, version))
        paths.append(str(path.relative_to(root)))
    return paths


def git_commit_all(root: Path, message: str) -> str:
    """Commit the whole work tree; returns the commit SHA."""
    if not (root / ".git").exists():
        subprocess.run([*GIT, "-C", str(root), "init", "-q", "-b", "main"], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", message], check=True)
    out = subprocess.run(
        [*GIT, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


# --------------------------------------------------------------------------- git repositories
#
# `git add` of 100,000 files takes about a minute and `git fast-import` slows down
# quadratically on one 100,000-entry folder, so the benchmark repositories are written
# directly as a git pack (blobs, trees, commit), which `git index-pack` then indexes: about
# 5 s for 100,000 items. The objects are exactly what `git add` + `git commit` would make.

_OBJ_TYPES = {"commit": 1, "tree": 2, "blob": 3}
_ROOT = "skills"
_ITEM_FILE = "SKILL.md"


def _object_sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data).hexdigest()


def _tree(entries: list[tuple[str, str, str]]) -> bytes:
    """A git tree from `(mode, name, sha)`; every name here sorts the same as git sorts it."""
    return b"".join(
        f"{mode} {name}".encode() + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries
    )


class _PackWriter:
    """Objects appended to a git pack (no deltas), indexed into a repository by `close()`."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.chunks: list[bytes] = []

    def add(self, kind: str, data: bytes) -> str:
        size = len(data)
        byte = (_OBJ_TYPES[kind] << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte, size = size & 0x7F, size >> 7
        header.append(byte)
        self.chunks.append(bytes(header) + zlib.compress(data, 1))
        return _object_sha(kind, data)

    def close(self) -> None:
        body = b"PACK" + struct.pack(">II", 2, len(self.chunks)) + b"".join(self.chunks)
        body += hashlib.sha1(body).digest()
        subprocess.run(
            ["git", "index-pack", "--stdin"],
            cwd=self.repo,
            input=body,
            capture_output=True,
            check=True,
        )


def _item_tree(pack: _PackWriter, i: int, version: int) -> str:
    blob = pack.add("blob", item_text(i, version).encode())
    return pack.add("tree", _tree([("100644", _ITEM_FILE, blob)]))


def _commit(pack: _PackWriter, skills: dict[str, str], parent: str | None, message: str) -> str:
    skills_tree = pack.add("tree", _tree([("40000", n, s) for n, s in sorted(skills.items())]))
    root_tree = pack.add("tree", _tree([("40000", _ROOT, skills_tree)]))
    stamp = f"bench <bench@example.com> {int(time.time())} +0000"
    lines = [f"tree {root_tree}", *([f"parent {parent}"] if parent else [])]
    lines += [f"author {stamp}", f"committer {stamp}", "", message, ""]
    return pack.add("commit", "\n".join(lines).encode())


def git_catalog(bare: Path, items: int, branch: str = "main") -> str:
    """Make `branch` of the (bare) repository `bare` one commit of `items` folder skills."""
    pack = _PackWriter(bare)
    skills = {f"s{i:06d}": _item_tree(pack, i, 0) for i in range(items)}
    sha = _commit(pack, skills, None, f"{items} skills")
    pack.close()
    _git(bare, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def git_change_items(bare: Path, indices: list[int], version: int, branch: str = "main") -> str:
    """Commit new content for the items `indices` on top of `branch`, and move the branch.

    Moving the branch is what a `git push` does on GitHub's side: the returned moment is when
    GitHub would send the push webhook.
    """
    ref = f"refs/heads/{branch}"
    parent = _git(bare, "rev-parse", ref).strip()
    listing = _git(bare, "ls-tree", "-z", f"{parent}:{_ROOT}")
    skills = {}
    for record in listing.split("\0"):
        if record:
            meta, _, name = record.partition("\t")
            skills[name] = meta.split()[2]
    pack = _PackWriter(bare)
    for i in indices:
        skills[f"s{i:06d}"] = _item_tree(pack, i, version)
    sha = _commit(pack, skills, parent, f"change {len(indices)} skills (v{version})")
    pack.close()
    _git(bare, "update-ref", ref, sha, parent)
    return sha


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout
