"""Where the desired state comes from: the interface every source (folder, GitHub) implements.

A reconcile asks a source three things, cheapest first, and stops as soon as it can:
the head (one conditional request), the listing (paths and blob SHAs, no content), and the
bytes of only those files whose blob SHA the table does not have yet.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from worker.sync.entries import TreeEntry


@dataclass(frozen=True)
class Head:
    """The branch head. `not_modified`: the stored ETag still matches (GitHub answered 304)."""

    sha: str | None
    etag: str | None = None
    not_modified: bool = False


@dataclass(frozen=True)
class Listing:
    """Every file of the tree at `commit_sha`. Incomplete listings never delete rows."""

    commit_sha: str | None
    entries: list[TreeEntry] = field(default_factory=list)
    complete: bool = True


class Source(ABC):
    """A catalog tree: a local folder, or a GitHub repository at a branch."""

    #: GitHub requests made so far (0 for a folder); recorded in `sync_runs`.
    requests: int = 0

    @abstractmethod
    def head(self, etag: str | None = None) -> Head:
        """The current head; `etag` from the last call lets the source answer "unchanged"."""

    @abstractmethod
    def listing(self, head: Head) -> Listing:
        """Every file at `head`, with blob SHAs."""

    @abstractmethod
    def read(
        self, head: Head, wanted: Mapping[str, str], *, bulk: bool = False
    ) -> Iterator[tuple[str, bytes]]:
        """Yield `(path, bytes)` for each wanted `path -> blob_sha`, in any order.

        `bulk` hints that most of the tree is wanted (a cold start): one archive beats
        many single reads.
        A path that cannot be read is simply not yielded; the reconcile records it as an error.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release what the source kept between calls (a spooled download); a no-op here."""
