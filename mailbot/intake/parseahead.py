"""Parsing the next mails on the second core while this one is recorded.

A backfill spends about a seventh of its time in the email package's parser, which holds the
GIL: a thread would not help, a process does. For a cycle with many mails (`MIN_MAILS`), a
single child process parses up to `AHEAD` mails ahead of the one being recorded; the main
process receives the same `ParsedMessage` it would have made itself (parse_message never
raises, and its result is plain data). A cycle of a few mails (IDLE delivering one) parses
in-process: starting a child would cost more than it saves.

The child is only a helper: if it cannot be started or dies, the mail is parsed here, as
always — one mail never costs the others their answers. It holds nothing of the state (no
database, no files) and exits with the cycle (or when its parent is killed: its pipe closes).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from mailbot.mail.fetched import FetchedMail
from mailbot.mail.parse import ParsedMessage, parse_message

log = logging.getLogger(__name__)

MIN_MAILS = 20  # fewer new mails than this in a cycle: parsed in-process
AHEAD = 8  # mails parsed ahead: enough to keep the child busy, little memory held


def parsed_ahead(fetched: Iterable[FetchedMail], count: int, own: tuple[str, ...]
                 ) -> Iterator[tuple[FetchedMail, ParsedMessage | None]]:
    """Each fetched mail with its parsed form (None: parse it yourself), in the same order."""
    if count < MIN_MAILS:
        yield from ((mail, None) for mail in fetched)
        return
    try:
        pool = ProcessPoolExecutor(max_workers=1,
                                   mp_context=multiprocessing.get_context("forkserver"))
    except (OSError, ValueError) as exc:
        log.info("parsing in-process (no helper process: %s)", exc)
        yield from ((mail, None) for mail in fetched)
        return
    waiting: deque[tuple[FetchedMail, Future[ParsedMessage] | None]] = deque()
    healthy = True
    try:
        for mail in fetched:
            waiting.append((mail, _submit(pool, mail, own) if healthy else None))
            if len(waiting) > AHEAD:
                mail, parsed = _done(*waiting.popleft())
                healthy = healthy and (parsed is not None)
                yield mail, parsed
        while waiting:
            yield _done(*waiting.popleft())
    finally:
        if not healthy:  # a helper stuck on a mail must not hold the cycle at exit
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=healthy, cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, mail: FetchedMail, own: tuple[str, ...]
            ) -> Future[ParsedMessage] | None:
    try:
        return pool.submit(parse_message, mail.raw, own)
    except RuntimeError:  # the pool broke (its process died): parse here from now on
        return None


def _done(mail: FetchedMail, future: Future[ParsedMessage] | None
          ) -> tuple[FetchedMail, ParsedMessage | None]:
    if future is None:
        return mail, None
    try:
        return mail, future.result(timeout=120)
    except Exception as exc:  # the helper died or timed out: this mail is parsed here
        log.warning("the parsing helper failed (%s); parsing in-process", exc)
        return mail, None
