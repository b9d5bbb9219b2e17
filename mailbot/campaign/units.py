"""Who a mail is from: the roster of the rules, the addresses units wrote from, new senders.

A sender is matched to a unit by address; else by the unit named in its 附件1/附件2 (推荐单位,
所在单位) against the roster's names and aliases and the names of units already known; else it
becomes a new unit, flagged as not on the roster. A unit may write from several addresses: each
one that is matched by name is remembered, so the next mail from it matches by address —
except for a roster unit the rules list WITH addresses: a new address claiming it is not
believed on its own (`Claim.unconfirmed`, 待核实) until the office confirms it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mailbot.campaign.rules import Campaign
from mailbot.errors import ConfigError
from mailbot.store.handles import Session
from mailbot.store.models import Unit, UnitAddress
from mailbot.store.queries import units as queries
from mailbot.timefmt import utcnow

ROSTER_PREFIX = "roster:"
ADDRESS_PREFIX = "address:"


def name_key(name: str) -> str:
    """Unit names compared tolerantly: width, case and spaces do not matter."""
    folded = unicodedata.normalize("NFKC", name).lower()
    return "".join(ch for ch in folded if not ch.isspace())


def sync_roster(session: Session, campaign: Campaign) -> None:
    """Make sure every roster unit and roster address exists (rules may change between runs)."""
    for entry in campaign.units:
        key = ROSTER_PREFIX + entry.name
        unit = queries.unit_by_key(session, key)
        if unit is None:
            unit = Unit(key=key, name=entry.name, name_key=name_key(entry.name), on_roster=True,
                        created_at=utcnow())
            session.add(unit)
            session.flush()
        for address in entry.emails:
            _remember(session, unit, address)


def unsaved_roster(campaign: Campaign, held: Iterable[Unit]) -> list[Unit]:
    """The roster units missing from `held` (every unit the store holds for the campaign, with
    its addresses): the rules gained them since the last `poll` or `run`. They come as Units
    never added to a session, each with the roster addresses `sync_roster` would give it (an
    address no unit holds yet), so a reader (`status`, the dashboard) shows them as 未提交
    without writing them; the next `poll` or `run` saves them, or the dashboard's first action
    on one (`roster_unit_saved`)."""
    by_key = {unit.key: unit for unit in held}
    known = {address.address for unit in by_key.values() for address in unit.addresses}
    unsaved = []
    for entry in campaign.units:  # in order, as sync_roster hands out the addresses
        fresh = list(dict.fromkeys(a.lower() for a in entry.emails if a.lower() not in known))
        known.update(fresh)
        if ROSTER_PREFIX + entry.name not in by_key:
            unsaved.append(Unit(key=ROSTER_PREFIX + entry.name, name=entry.name,
                                name_key=name_key(entry.name), on_roster=True,
                                created_at=utcnow(),
                                addresses=[UnitAddress(address=a) for a in fresh]))
    return unsaved


def roster_unit_saved(session: Session, campaign: Campaign, name: str) -> Unit | None:
    """The roster unit `name`, saved (with the rest of the roster, as a poll would) if the rules
    gained it since the last poll: an action on it is a write anyway. None: not on the roster."""
    if all(entry.name != name for entry in campaign.units):
        return None
    sync_roster(session, campaign)
    return queries.unit_by_key(session, ROSTER_PREFIX + name)


@dataclass(frozen=True)
class Claim:
    """The unit a mail is for, and how the sender came to be its."""

    unit: Unit
    unconfirmed: bool = False  # 待核实: a new address for a roster unit with addresses
    earlier: tuple[str, ...] = ()  # the unit's addresses before this new one; () if not new


def known_unit(session: Session, sender: str) -> Unit | None:
    """The unit `sender` is a known address of (the roster's, or one that wrote before)."""
    return queries.unit_of_address(session, sender.lower())


def find_unit(session: Session, campaign: Campaign, sender: str, named: Iterable[str],
              studios: Iterable[str], display_name: str) -> Unit:
    """`claim_unit(...).unit`."""
    return claim_unit(session, campaign, sender, named, studios, display_name).unit


def claim_unit(session: Session, campaign: Campaign, sender: str, named: Iterable[str],
               studios: Iterable[str], display_name: str) -> Claim:
    """The unit a mail from `sender` belongs to: by address, else by the unit its documents
    name (`named`), else by a studio (`studios`, tolerant keys) an earlier 附件1/附件2 of a
    unit nominated — a colleague sending only the 附件3 — else a new unit."""
    sender = sender.lower()
    named = list(named)
    roster_key, wanted = _named_keys(campaign, [n for n in named if n.strip()])
    own_key = ADDRESS_PREFIX + (sender or "unknown")
    # Every unit the mail may be for, with its addresses (the claim lists them): one statement
    # where one per question was asked in turn.
    found = queries.units_for_sender(session, sender, [k for k in (roster_key, own_key) if k],
                                     () if roster_key else wanted)
    known = next((u for u, by_address in found if by_address), None)
    if known is not None:
        return Claim(known)
    candidates = [u for u, _by_address in found]
    unit = (next((u for u in candidates if u.key == roster_key), None) if roster_key
            else next((u for u in candidates if not u.on_roster and u.name_key in wanted),
                      None))
    unit = unit or _by_studio(session, {k for k in studios if k})
    if unit is not None:
        earlier = tuple(a.address for a in unit.addresses)
        if _roster_addresses(campaign, unit):
            return Claim(unit, unconfirmed=True, earlier=earlier)  # the office decides
        if sender:  # inserted with the mail's row, in its flush
            session.add(UnitAddress(unit=unit, address=sender))
        return Claim(unit, earlier=earlier)
    existing = next((u for u in candidates if u.key == own_key), None)
    return Claim(existing or _new_unit(session, sender, named, display_name, known_new=True))


def _named_keys(campaign: Campaign, names: list[str]) -> tuple[str, set[str]]:
    """The key of the roster unit `names` name (by its name or an alias), or "" if they name
    none; and the tolerant keys of `names`, which name a unit off the roster otherwise."""
    wanted = {name_key(n) for n in names}
    for entry in campaign.units if wanted else ():
        if wanted & {name_key(n) for n in (entry.name, *entry.aliases)}:
            return ROSTER_PREFIX + entry.name, wanted
    return "", wanted


def _roster_addresses(campaign: Campaign, unit: Unit) -> tuple[str, ...]:
    """The addresses the rules list for a roster unit; () for any other unit."""
    if not unit.on_roster:
        return ()
    entry = next((u for u in campaign.units if ROSTER_PREFIX + u.name == unit.key), None)
    return tuple(entry.emails) if entry is not None else ()


def confirm_address(session: Session, unit: Unit, address: str) -> None:
    """The office confirmed `address` as the unit's: its next mail matches by address."""
    _remember(session, unit, address)


def _new_unit(session: Session, sender: str, named: list[str], display_name: str, *,
              known_new: bool = False) -> Unit:
    """A unit named after the mail, keyed by its sender; the one that key names already if
    there is one (`known_new`: the caller knows there is none)."""
    first_named = next((n.strip() for n in named if n.strip()), "")
    name = first_named or display_name or sender
    key = ADDRESS_PREFIX + (sender or "unknown")
    existing = None if known_new else queries.unit_by_key(session, key)
    if existing is not None:  # an address that was detached from its unit by hand
        return existing
    unit = Unit(key=key, on_roster=False, name=name, name_key=name_key(name),
                created_at=utcnow())
    session.add(unit)  # inserted, with its address, in the flush of the mail's row
    if sender:  # not known, as asked in claim_unit
        session.add(UnitAddress(unit=unit, address=sender))
    return unit


def _by_name(session: Session, campaign: Campaign, names: list[str]) -> Unit | None:
    roster_key, wanted = _named_keys(campaign, names)
    if not wanted:
        return None
    if roster_key:
        return queries.unit_by_key(session, roster_key)
    return queries.unit_off_roster_named(session, wanted)


def _by_studio(session: Session, keys: set[str]) -> Unit | None:
    if not keys:
        return None
    owners = queries.studio_owners(session, keys)
    # Only an unambiguous owner: two units nominating the same studio is for a person to sort.
    return queries.unit_with_addresses(session, owners.pop()) if len(owners) == 1 else None


def _remember(session: Session, unit: Unit, address: str) -> None:
    address = address.lower()
    if not queries.address_known(session, address):
        session.add(UnitAddress(unit=unit, address=address))
        session.flush()


def named_unit(session: Session, campaign: Campaign, which: str) -> Unit:
    """The unit named or addressed by `which` (its name, a roster alias, or one of its
    addresses); anything else is a ConfigError listing the known units."""
    units = queries.units_in_order(session)
    by_name = _by_name(session, campaign, [which])
    matches = [by_name] if by_name is not None else [
        u for u in units if which.strip().lower() in {a.address for a in u.addresses}]
    if len(matches) != 1:
        known = "、".join(u.display_name for u in units) or "（还没有任何单位）"
        problem = "没有找到" if not matches else "找到多个"
        raise ConfigError(f"{problem}单位“{which}”；已知单位：{known}")
    return matches[0]


def mark_paper(session: Session, campaign: Campaign, which: str, when: datetime | None) -> str:
    """Record (or with None, clear) the paper copy of the unit named or addressed by `which`."""
    unit = named_unit(session, campaign, which)
    unit.paper_received_at = when
    return unit.display_name
