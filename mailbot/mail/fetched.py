"""What the IMAP server's answers become: a fetched mail, batches of UIDs fetched in one round
trip, the note kept beside a mail fetched without its body, INTERNALDATE read (split from
mail/imap.py, which speaks the protocol)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from imap_tools.imap_utf7 import utf7_encode

FETCH_BATCH_BYTES = 8 * 1024 * 1024  # whole mails fetched in one round trip, at most
FETCH_BATCH_COUNT = 50
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")
_MESSAGE_ID = re.compile(rb"<[^<>\s]+>")


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    received_at: datetime  # INTERNALDATE: when the mailbox received it (aware)
    raw: bytes  # the whole mail; only its header when `omitted` or `early`
    omitted: int = 0  # the size on the server when the body was not fetched (too large)
    early: bool = False  # received before `header_only_before`: only its header was fetched


def batch_uids(sizes: Sequence[tuple[int, int]], limit: int) -> list[list[int]]:
    """(UID, size) in order -> groups fetched in one round trip each, in the same order: up to
    FETCH_BATCH_COUNT mails and FETCH_BATCH_BYTES together; a mail over `limit` (its header
    only) or over FETCH_BATCH_BYTES alone in its group."""
    groups: list[list[int]] = []
    group: list[int] = []
    total = 0
    for uid, size in sizes:
        alone = size > limit or size > FETCH_BATCH_BYTES
        if group and (alone or total + size > FETCH_BATCH_BYTES
                      or len(group) >= FETCH_BATCH_COUNT):
            groups.append(group)
            group, total = [], 0
        if alone:
            groups.append([uid])
            continue
        group.append(uid)
        total += size
    if group:
        groups.append(group)
    return groups


def omission_note(fetched: FetchedMail, folder: str) -> str:
    """The note kept beside a mail kept without its body ("" for a whole one): the office
    must not take it for whole (intake.cycle keeps it as `omitted_key(raw_path)`)."""
    if fetched.early:
        return (
            f"本文件只保存了邮件头：邮件在申报开始前（{fetched.received_at.isoformat()}）收到，"
            f"不属于本次申报，正文和附件没有下载。原邮件仍在邮箱文件夹“{folder}”中，未被改动。\n"
            f"Header only: received before the campaign opened. The original is untouched "
            f"on the server in folder {folder!r}.\n")
    if not fetched.omitted:
        return ""
    return (
        f"本文件只保存了邮件头：邮件大小 {fetched.omitted} 字节，超过设置 max_message_bytes，"
        f"正文和附件没有下载。原邮件仍在邮箱文件夹“{folder}”中（收到时间 "
        f"{fetched.received_at.isoformat()}），未被删除。\n"
        f"Header only: the mail is {fetched.omitted} bytes, over max_message_bytes; the body was "
        f"not fetched. The original is still on the server in folder {folder!r}.\n")


def parse_internaldate(value: bytes) -> datetime:
    return datetime.strptime(value.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")


def uid_set(uids: Iterable[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def quote_folder(folder: str) -> str:
    encoded = utf7_encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'
