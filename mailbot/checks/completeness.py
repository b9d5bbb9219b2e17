"""The unit's set is complete: 附件1 once, and 附件2 and 附件3 for every studio it lists.

The set may arrive over several mails, so this looks at `held` (the latest version of each
document the unit has sent) rather than at this mail alone; a unit may nominate several studios
in one mail or in many. Studio names are matched tolerantly (`studio_key`: spaces, full-width
and half-width forms, brackets and quotes, a trailing 工作室), then by containment when that
points at exactly one listed studio (精密制造创新工作室 for 精密制造劳模创新工作室 does not
match; 精密制造劳模创新 does). A form that names no studio at all (its name could not be read)
counts for the one studio still without that form, when there is exactly one.

Mismatches are correction requests that name the studio and the form:
工作室“X”尚未收到附件3《申报材料》, and for a form about a studio 附件1 does not list,
附件2《推荐审批表》“f.docx”所写的工作室“Y”不在附件1《推荐汇总表》所列的工作室中.
A scan or photo (`Held.scan`) never stands in for the editable file; when it is all there is,
the request says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.campaign.rules import Campaign
from mailbot.checks.base import Held, Submission
from mailbot.documents import studio_key
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    return missing(submission.campaign, submission.held) + unlisted_findings(
        submission.campaign, submission.held
    )


def missing(campaign: Campaign, all_held: Sequence[Held]) -> list[Finding]:
    """What the unit still has to send, given the latest version of each form it holds.

    Presence only: a form that came with a problem counts as sent, and its problem is reported
    on its own (by the document checks, or by `unresolved` for an earlier mail)."""
    held = [h for h in all_held if not h.scan]
    scans = [h for h in all_held if h.scan]
    unit_docs = {spec.key: [h for h in held if h.kind == spec.key] for spec in campaign.documents}
    findings: list[Finding] = []
    for spec in campaign.documents:
        if spec.per == "unit" and not unit_docs[spec.key]:
            findings.append(_missing(campaign, spec.key, None, _scans(scans, spec.key)))
    studios = nominated(held)
    per_studio = [spec.key for spec in campaign.documents if spec.per == "studio"]
    if not studios:
        # No usable summary table: ask for each studio form that has not come at all.
        for key in per_studio:
            if not unit_docs[key]:
                findings.append(_missing(campaign, key, None, _scans(scans, key)))
        return findings
    for key in per_studio:
        found = match_studios(studios, unit_docs[key])
        lacking = [name for name in studios if name not in found]
        kind_scans = _scans(scans, key) if len(lacking) == 1 else []
        findings.extend(_missing(campaign, key, name, kind_scans) for name in lacking)
    return findings


def unlisted_findings(campaign: Campaign, all_held: Sequence[Held]) -> list[Finding]:
    """A 附件2/附件3 about a studio that the unit's 附件1 does not list (when there is one)."""
    held = [h for h in all_held if not h.scan]
    studios = nominated(held)
    summary = campaign.studio_list
    if not studios or summary is None:
        return []
    findings = []
    for spec in campaign.documents:
        if spec.per != "studio":
            continue
        for doc in unlisted(studios, [h for h in held if h.kind == spec.key]):
            listed = "、".join(f"“{name}”" for name in studios)
            findings.append(Finding(
                code="studio-not-listed",
                message=(f"{spec.display}“{doc.filename}”所写的工作室“{doc.studio_name}”"
                         f"不在{summary.display}所列的工作室（{listed}）中。"),
                fix=(f"请核对工作室名称，与{summary.display}保持一致；如果也推荐该工作室，"
                     f"请在{summary.display}中补列后一并重新发送。"),
                document=doc.filename,
            ))
    return findings


def nominated(held: Sequence[Held]) -> list[str]:
    """Studio names from the unit's latest summary table, in its order, without repeats."""
    names: dict[str, str] = {}
    for doc in held:
        if doc.listed_studios and not doc.scan:
            for name in doc.listed_studios:
                names.setdefault(studio_key(name), name)
    return list(names.values())


def match_studios(studios: list[str], docs: list[Held]) -> dict[str, Held]:
    """Which nominated studio each document is for: by key, then by unique containment, then a
    document that names no studio by elimination. Scans never match.

    `docs` are the latest versions, oldest first, so a later match replaces an earlier one."""
    found, _named_elsewhere = _match(studios, docs)
    return found


def unlisted(studios: list[str], docs: list[Held]) -> list[Held]:
    """The documents that name a studio which is none of `studios`."""
    return _match(studios, docs)[1]


def _match(studios: list[str], docs: list[Held]) -> tuple[dict[str, Held], list[Held]]:
    keys = {studio_key(name): name for name in studios}
    found: dict[str, Held] = {}
    anonymous: list[Held] = []
    named: list[Held] = []
    for doc in docs:
        if doc.scan:
            continue
        if not doc.studio_key:
            anonymous.append(doc)
        elif doc.studio_key in keys:
            found[keys[doc.studio_key]] = doc
        else:
            named.append(doc)
    strays: list[Held] = []
    for doc in named:
        candidates = [name for key, name in keys.items()
                      if name not in found and (doc.studio_key in key or key in doc.studio_key)]
        if len(candidates) == 1:
            found[candidates[0]] = doc
        else:
            strays.append(doc)
    lacking = [name for name in studios if name not in found]
    # A form whose studio name could not be read still counts when exactly one studio is left
    # for it: the common case of a unit with one studio.
    if len(lacking) == 1 and anonymous:
        found[lacking[0]] = anonymous[-1]
    return found, strays


def _scans(scans: list[Held], kind: str) -> list[Held]:
    return [h for h in scans if h.kind == kind]


def _missing(campaign: Campaign, key: str, studio: str | None, scans: list[Held]) -> Finding:
    spec = campaign.spec(key)
    formats = "、".join("." + f for f in spec.formats)
    whose = f"工作室“{studio}”的" if studio is not None else ""
    if scans:
        names = "、".join(f"“{h.filename}”" for h in scans)
        return Finding(
            code=f"missing-{key}",
            message=f"{whose}{spec.display}只收到扫描件{names}，尚未收到可编辑的文件。",
            fix=f"请补发可编辑的{spec.display}（{formats} 格式）；扫描件已存档，无需重发。",
        )
    if studio is None:
        message = f"尚未收到{spec.display}。"
    else:
        message = f"工作室“{studio}”尚未收到{spec.display}。"
    target = f"为“{studio}”" if studio is not None else ""
    return Finding(code=f"missing-{key}", message=message,
                   fix=f"请{target}补发{spec.display}（{formats} 格式）。")
