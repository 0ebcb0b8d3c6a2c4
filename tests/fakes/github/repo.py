"""A repository on the fake: a bare git repository GitHub serves, and a work tree tests edit.

Tests change files in the work tree, commit and push; the push lands in the bare repository
(what the API reads) and tells the fake, which sends the `push` webhooks. The read helpers
answer what GitHub resolves: refs to commits, object types, a commit's header fields.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fakes.github.gitcmd import ZERO_SHA, GitError, blob_sha, git, iso

if TYPE_CHECKING:
    from tests.fakes.github.fake import FakeGitHub
    from tests.fakes.github.webhooks import Hook


class FakeRepo:
    """A repository on the fake: a bare repo GitHub serves, and a work tree tests edit and push."""

    def __init__(
        self,
        fake: FakeGitHub,
        full_name: str,
        repo_id: int,
        root: Path,
        default_branch: str,
        private_to: set[str] | None,
    ) -> None:
        self.fake = fake
        self.full_name = full_name
        self.owner, self.name = full_name.split("/")
        self.id = repo_id
        self.default_branch = default_branch
        self.private_to = private_to
        self.bare = root / "bare" / f"{full_name}.git"
        self.work = root / "work" / full_name
        self.bare.mkdir(parents=True)
        self.work.mkdir(parents=True)
        git(self.bare, "init", "-q", "--bare", f"--initial-branch={default_branch}")
        git(self.work, "init", "-q", f"--initial-branch={default_branch}")
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.branch = default_branch
        self._gitlinks: dict[str, str] = {}

    @property
    def api_url(self) -> str:
        """This repository's API URL on the fake (`.../repos/owner/name`)."""
        return f"{self.fake.url}/repos/{self.full_name}"

    # -- editing the work tree
    def _path(self, path: str) -> Path:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, path: str, content: str | bytes, *, executable: bool = False) -> str:
        """Write a file; returns its blob SHA."""
        data = content.encode() if isinstance(content, str) else content
        target = self._path(path)
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data)
        target.chmod(0o755 if executable else 0o644)
        return blob_sha(data)

    def write_many(self, files: dict[str, str | bytes]) -> None:
        for path, content in files.items():
            self.write(path, content)

    def delete(self, path: str) -> None:
        target = self.work / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()

    def rename(self, old: str, new: str) -> None:
        self._path(new)
        (self.work / old).rename(self.work / new)

    def symlink(self, path: str, target: str) -> None:
        link = self._path(path)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)

    def submodule(self, path: str, sha: str) -> None:
        """Add a gitlink (mode 160000) at the next commit, without cloning anything."""
        self._gitlinks[path] = sha

    def read(self, path: str) -> bytes:
        return (self.work / path).read_bytes()

    def commit(self, message: str = "change") -> str:
        """Stage everything and commit; returns the commit SHA."""
        git(self.work, "add", "-A")
        for path, sha in self._gitlinks.items():
            git(self.work, "update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
        git(self.work, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
        return self.local_head

    def checkout(self, branch: str, *, create: bool = False, start: str | None = None) -> None:
        args = ["checkout", "-q"]
        if create:
            args += ["-b", branch]
            if start:
                args.append(start)
        else:
            args.append(branch)
        git(self.work, *args)
        self.branch = branch

    def reset_hard(self, sha: str) -> None:
        git(self.work, "reset", "-q", "--hard", sha)

    @property
    def local_head(self) -> str:
        return git(self.work, "rev-parse", "HEAD").decode().strip()

    # -- publishing
    def ref(self, branch: str | None = None) -> str | None:
        """The SHA GitHub has for a branch (None: no such branch)."""
        return self.resolve(f"refs/heads/{branch or self.default_branch}")

    @property
    def head(self) -> str:
        """The SHA of the default branch on GitHub."""
        sha = self.ref()
        if sha is None:
            raise GitError(f"{self.full_name} has no {self.default_branch} branch yet")
        return sha

    def push(self, branch: str | None = None, *, force: bool = False) -> str:
        """Push the work tree's HEAD to `branch` (default: the current one); fires webhooks."""
        target = branch or self.branch
        return self._push(self.local_head, target, force=force)

    def force_push_to(self, sha: str, branch: str | None = None) -> str:
        """Point the branch at `sha` (an older commit, say) and tell the hooks (forced)."""
        self.reset_hard(sha)
        return self._push(sha, branch or self.branch, force=True)

    def delete_branch(self, branch: str) -> None:
        before = self.ref(branch)
        git(self.work, "push", "-q", "origin", f":refs/heads/{branch}")
        if before:
            self.fake.on_push(self, f"refs/heads/{branch}", before, ZERO_SHA)

    def _push(self, sha: str, branch: str, *, force: bool) -> str:
        ref = f"refs/heads/{branch}"
        before = self.ref(branch) or ZERO_SHA
        git(self.work, "push", "-q", *(["-f"] if force else []), "origin", f"{sha}:{ref}")
        if before != sha:
            self.fake.on_push(self, ref, before, sha)
        return sha

    def add_hook(self, url: str, secret: str | None = None, *, content_type: str = "json") -> Hook:
        return self.fake.add_hook(self.full_name, url, secret, content_type=content_type)

    def blob_sha_at(self, path: str, ref: str | None = None) -> str:
        out = git(self.bare, "rev-parse", f"{ref or self.head}:{path}")
        return out.decode().strip()

    # -- reading the bare repository, as the API does (git itself is thread-safe)
    def resolve(self, ref: str) -> str | None:
        """The commit `ref` names, as git spells it (None: no such commit)."""
        try:
            out = git(self.bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    def resolve_ref(self, ref: str) -> str | None:
        """A branch, a full or abbreviated SHA, or HEAD (the default branch) to a commit SHA."""
        if ref == "HEAD":
            return self.resolve(f"refs/heads/{self.default_branch}")
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
            sha = self.resolve(candidate)
            if sha:
                return sha
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            return self.resolve(ref)
        return None

    def is_ancestor(self, a: str, b: str) -> bool:
        try:
            git(self.bare, "merge-base", "--is-ancestor", a, b)
        except GitError:
            return False
        return True

    def object_type(self, sha: str) -> str | None:
        """`commit`, `tree`, `blob`; None for what is not a (hex) object name here."""
        if not re.fullmatch(r"[0-9a-f]{4,40}", sha):
            return None
        try:
            return git(self.bare, "cat-file", "-t", sha).decode().strip()
        except GitError:
            return None

    def commit_info(self, sha: str) -> dict[str, Any]:
        """A commit's tree, parents, message, author and committer (dates as GitHub writes)."""
        raw = git(self.bare, "cat-file", "commit", sha).decode()
        header, _, message = raw.partition("\n\n")
        info: dict[str, Any] = {"parents": [], "message": message.rstrip("\n")}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                info["tree"] = value
            elif key == "parent":
                info["parents"].append(value)
            elif key in ("author", "committer"):
                m = re.match(r"(.*) <(.*)> (\d+) ([+-]\d{4})", value)
                assert m, value
                info[key] = {"name": m[1], "email": m[2], "date": iso(int(m[3]))}
        return info
