"""The character screen that lets plain front matter skip the YAML event pass is never wrong."""

from __future__ import annotations

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker.sync.safe_yaml import (
    MAX_DEPTH,
    InvalidFileError,
    _check_yaml_events,
    load_yaml,
    needs_event_check,
)

#: YAML's structural characters, heavily weighted, so that generated texts nest and break.
yamlish = st.lists(
    st.sampled_from([*"ab1 -?:[]{},&*!|>'\"#%.\n\t", "---", "...", "  ", "- ", "a: "])
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(yamlish)
@example("- " * MAX_DEPTH + "a")
@example("[" * (MAX_DEPTH + 1))
@example("a: 1\n---\nb: 2")
@example("a: &x 1\nb: *x")
def test_a_screened_text_always_passes_the_event_checks(text: str) -> None:
    """Whatever the screen lets through, the event pass would have let through too."""
    if needs_event_check(text):
        return
    try:
        _check_yaml_events(text, 0)
    except yaml.YAMLError:
        pass  # a syntax error: the load that follows reports it either way
    except InvalidFileError as exc:  # pragma: no cover - the property under test
        raise AssertionError(f"the screen let through {text!r}: {exc}") from None


def test_plain_front_matter_skips_the_event_pass_and_still_loads() -> None:
    text = "name: pdf\ndescription: Reads PDFs\ntags: [pdf, docs]\nauthor: octocat\n"
    assert not needs_event_check(text)
    assert load_yaml(text, 1, "the front matter")["tags"] == ["pdf", "docs"]


def test_anything_unusual_takes_the_checked_path() -> None:
    for text in ("a: &x 1", "a: *x", "a: 1\n---\n", "%YAML 1.2\n---\na: 1", "x" * 2_001):
        assert needs_event_check(text), text
    assert needs_event_check("a:\n" + "- b\n" * MAX_DEPTH)
