"""The unit's set is complete: 附件1 once, and 附件2 and 附件3 for every studio it lists.

The set may arrive over several mails, so this looks at `held` (the latest version of each
document the unit has sent) rather than at this mail alone. Studio names are matched tolerantly
(`studio_key`); a unit with a single studio needs no names to match at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.checks.base import Held, Submission
from mailbot.documents import studio_key
from mailbot.findings import Finding
from mailbot.rules import Campaign


def check(submission: Submission) -> list[Finding]:
    return missing(submission.campaign, submission.held)


def missing(campaign: Campaign, all_held: Sequence[Held]) -> list[Finding]:
    """What the unit still has to send, given the latest version of each form it holds.

    Presence only: a form that came with a problem counts as sent, and its problem is reported
    on its own (by the document checks, or by `unresolved` for an earlier mail)."""
    held = list(all_held)
    unit_docs = {spec.key: [h for h in held if h.kind == spec.key]
                 for spec in campaign.documents}
    findings: list[Finding] = []
    for spec in campaign.documents:
        if spec.per == "unit" and not unit_docs[spec.key]:
            findings.append(_missing(campaign, spec.key, studio=None))
    studios = nominated(held)
    per_studio = [spec.key for spec in campaign.documents if spec.per == "studio"]
    if not studios:
        # No usable summary table: ask for each studio form that has not come at all.
        for key in per_studio:
            if not unit_docs[key]:
                findings.append(_missing(campaign, key, studio=None))
        return findings
    for key in per_studio:
        found = match_studios(studios, unit_docs[key])
        for name in studios:
            if name not in found:
                findings.append(_missing(campaign, key, studio=name))
    return findings


def nominated(held: list[Held]) -> list[str]:
    """Studio names from the unit's latest summary table, in its order, without repeats."""
    names: dict[str, str] = {}
    for doc in held:
        if doc.kind == "summary":
            for name in doc.listed_studios:
                names.setdefault(studio_key(name), name)
    return list(names.values())


def match_studios(studios: list[str], docs: list[Held]) -> dict[str, Held]:
    """Which nominated studio each document is for: by name, then the rest by elimination.

    `docs` are the latest versions, oldest first, so a later match replaces an earlier one."""
    keys = {studio_key(name): name for name in studios}
    found: dict[str, Held] = {}
    leftover: list[Held] = []
    for doc in docs:
        if doc.studio_key in keys:
            found[keys[doc.studio_key]] = doc
        else:
            leftover.append(doc)
    missing = [name for name in studios if name not in found]
    # A form whose studio name we could not read (or that differs only in wording) still counts
    # when exactly one studio is left for it: the common case of a unit with one studio.
    if len(missing) == 1 and leftover:
        found[missing[0]] = leftover[-1]
    return found


def _missing(campaign: Campaign, key: str, studio: str | None) -> Finding:
    spec = campaign.spec(key)
    if studio is None:
        message = f"尚未收到{spec.display}。"
    else:
        message = f"工作室“{studio}”尚未收到{spec.display}。"
    formats = "、".join("." + f for f in spec.formats)
    whose = f"为“{studio}”" if studio is not None else ""
    fix = f"请{whose}补发{spec.display}（{formats} 格式）。"
    return Finding(code=f"missing-{key}", message=message, fix=fix)
