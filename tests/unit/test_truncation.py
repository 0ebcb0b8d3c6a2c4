"""Truncated tree -> walk or tarball: decided from the truncated listing alone (pure)."""

from __future__ import annotations

from worker.github.truncation import choose_listing, walk_estimate


def _listing(folders: dict[str, int], files_per_folder: int, limit: int) -> list[tuple[str, str]]:
    """`root/fNNN/item.md` entries in git's depth-first order, cut at `limit` like GitHub."""
    pairs: list[tuple[str, str]] = []
    for root, count in folders.items():
        pairs.append((root, "tree"))
        for i in range(count):
            pairs.append((f"{root}/f{i:06d}", "tree"))
            pairs += [(f"{root}/f{i:06d}/item{k}.md", "blob") for k in range(files_per_folder)]
    return pairs[:limit]


def test_one_huge_folder_goes_to_the_tarball_at_once() -> None:
    # 100,000 items in 100,000 folders under skills/: GitHub lists half the folders.
    pairs = _listing({"skills": 100_000}, 1, 100_000)
    assert walk_estimate(pairs) > 40_000
    assert choose_listing(pairs) == "tarball"


def test_a_few_root_folders_that_each_fit_are_walked() -> None:
    # Three roots of 30 entries each, cut at 40: root level + three recursive sub-trees
    # (only the two listed ones are known: a lower bound).
    pairs = _listing({"mcps": 10, "skills": 10, "tools": 10}, 2, 40)
    assert walk_estimate(pairs) == 1 + 2
    assert choose_listing(pairs) == "walk"


def test_a_cut_folder_holding_most_of_the_listing_is_walked_one_level_down() -> None:
    pairs = _listing({"skills": 6}, 9, 40)  # skills/ has 66 entries; 4 folders listed
    # root level, skills/ level, its 4 listed folders
    assert walk_estimate(pairs) == 1 + 1 + 4
    assert choose_listing(pairs, max_walk=6) == "walk"
    assert choose_listing(pairs, max_walk=5) == "tarball"


def test_files_at_the_root_cost_nothing_more() -> None:
    folders = _listing({"a": 2, "b": 2, "c": 2}, 1, 12)  # c cut after one entry
    pairs = [("LICENSE", "blob"), ("README.md", "blob"), *folders]
    assert walk_estimate(pairs) == walk_estimate(folders) == 1 + 3


def test_an_empty_listing_costs_the_root_level() -> None:
    assert walk_estimate([]) == 1


def test_a_folder_whose_own_level_fills_the_listing_cannot_be_walked() -> None:
    # skills/ holds 60 files directly; 49 of them listed: even its level is too big.
    pairs = [("skills", "tree"), *((f"skills/s{i}.md", "blob") for i in range(49))]
    assert walk_estimate(pairs) == len(pairs)
    assert choose_listing(pairs) == "tarball"
