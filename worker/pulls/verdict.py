"""The verdict on a pull request's head commit: pure, from the problems found."""

from __future__ import annotations

from collections.abc import Sequence

from worker.feedback.verdict import Annotation, Conclusion, Verdict, plural, summary_with_problems


def pull_request_verdict(
    number: int, base_ref: str, checked: Sequence[str], problems: Sequence[Annotation]
) -> Verdict:
    """Failure when any problem was found; `checked` are the changed item files read."""
    scope = f"{plural(len(checked), 'changed catalog file')} of #{number} (into `{base_ref}`)"
    if problems:
        files = len({p.path for p in problems})
        return Verdict(
            Conclusion.FAILURE,
            f"{plural(len(problems), 'problem')} in {plural(files, 'catalog file')}",
            summary_with_problems(
                f"Checked {scope}. Merged as it is, these files would not sync as intended:",
                problems,
            ),
            tuple(problems),
        )
    if not checked:
        return Verdict(
            Conclusion.SUCCESS,
            "No catalog item changed",
            f"#{number} changes no catalog item file (into `{base_ref}`).",
        )
    return Verdict(
        Conclusion.SUCCESS,
        f"{plural(len(checked), 'changed catalog file')} valid",
        f"Checked {scope}: every one would sync.",
    )


def skipped_verdict(number: int, reason: str) -> Verdict:
    """Not validated, and why (the author can act on the reason, or knows nobody checked)."""
    return Verdict(
        Conclusion.SKIPPED,
        f"Not validated: {reason}",
        f"catalog-sync did not validate #{number}: {reason}.",
    )
