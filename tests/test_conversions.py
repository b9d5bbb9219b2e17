"""A conversion by LibreOffice is made once per file content (documents.conversions).

Real LibreOffice converts; what the cache saves is counted by convert.soffice_runs(), the
number of soffice processes this process started. The .doc inputs are made by LibreOffice
from our own samples, as in test_libreoffice_convert.py.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from intake_support import RULES, UNIT_ADDRESS, make_bot
from servers import Dovecot, SmtpRelay
from test_cli import mailbot
from test_official import by_studio, docx_table, filled_in
from web_support import deliver, full_set, make_runtime

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo import samples
from mailbot.documents import conversions, convert, read_document
from mailbot.documents.conversions import ConversionCache
from mailbot.intake.cycle import Runtime
from mailbot.office import official

ROOT = Path(__file__).resolve().parents[1]
WORD_97 = "doc:MS Word 97"
FIRST, _MISSING, LATE_ONE, PAIR_A, _PAIR_B = samples.SAMPLE_STUDIOS


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


@pytest.fixture(scope="module")
def approval_doc(soffice: str) -> bytes:
    return convert.export(samples.approval_docx(FIRST), "docx", WORD_97, soffice=soffice)


def private_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state


def read_fields(data: bytes, campaign: Campaign, cache: ConversionCache | None
                ) -> dict[str, str]:
    doc = read_document("附件2-审批表.doc", data, "doc", campaign, cache=cache)
    assert (doc.kind, doc.converted, doc.problems) == ("approval", True, ())
    return dict(doc.fields)


def test_a_doc_read_twice_is_converted_once(tmp_path: Path, campaign: Campaign,
                                           approval_doc: bytes) -> None:
    cache = ConversionCache(private_state(tmp_path))
    before = convert.soffice_runs()
    first = read_fields(approval_doc, campaign, cache)
    assert convert.soffice_runs() == before + 1
    again = read_fields(approval_doc, campaign, cache)
    assert convert.soffice_runs() == before + 1  # the kept .docx, no LibreOffice
    assert again == first and first["工作室名称"] == FIRST.name
    # Kept as the rest of the state: the owner's only, under the source's SHA-256.
    [entry] = cache.root.rglob("*.docx")
    key = conversions.key(approval_doc, "doc", "docx")
    assert entry == cache.path(key) and entry.parent.name == key.digest[:2]
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    for folder in (cache.root.parent, cache.root, entry.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_process_cache_serves_a_caller_that_names_none(
        tmp_path: Path, campaign: Campaign, approval_doc: bytes) -> None:
    """The intake reads without naming a cache: the commands set the process's."""
    conversions.use(ConversionCache(private_state(tmp_path)))
    before = convert.soffice_runs()
    read_fields(approval_doc, campaign, None)
    read_fields(approval_doc, campaign, None)
    assert convert.soffice_runs() == before + 1


def test_without_a_state_directory_nothing_is_kept(tmp_path: Path, campaign: Campaign,
                                                  approval_doc: bytes) -> None:
    """`mailbot check` on local files: every read converts, and no folder appears."""
    nowhere = ConversionCache(tmp_path / "no-state")
    before = convert.soffice_runs()
    read_fields(approval_doc, campaign, nowhere)
    read_fields(approval_doc, campaign, None)
    assert convert.soffice_runs() == before + 2
    assert list(tmp_path.iterdir()) == []


def _truncated(entry: bytes) -> bytes:
    return entry[: len(entry) // 2]


def _flipped(entry: bytes) -> bytes:
    at = len(entry) - 100  # a byte of the .docx, not of the header
    return entry[:at] + bytes([entry[at] ^ 0xFF]) + entry[at + 1:]


def _no_header(entry: bytes) -> bytes:
    return entry[entry.index(b"\n") + 1:]  # the bare .docx, as an older cache kept it


def _other_source(entry: bytes) -> bytes:
    header, _, rest = entry.partition(b"\n")
    fields = header.split(b"\t")
    fields[2] = b"0" * 64  # made from other bytes (a copied or renamed entry)
    return b"\t".join(fields) + b"\n" + rest


@pytest.mark.parametrize("damage", [_truncated, _flipped, _no_header, _other_source,
                                    lambda entry: b"", lambda entry: os.urandom(4096)],
                         ids=["truncated", "flipped-byte", "no-header", "other-source", "empty",
                              "garbage"])
def test_a_damaged_entry_is_converted_again_never_served(
        tmp_path: Path, campaign: Campaign, approval_doc: bytes,
        damage: Callable[[bytes], bytes]) -> None:
    cache = ConversionCache(private_state(tmp_path))
    expected = read_fields(approval_doc, campaign, cache)
    path = cache.path(conversions.key(approval_doc, "doc", "docx"))
    path.write_bytes(damage(path.read_bytes()))
    before = convert.soffice_runs()
    assert read_fields(approval_doc, campaign, cache) == expected
    assert convert.soffice_runs() == before + 1
    # Made again and kept whole: the next read needs no LibreOffice.
    assert cache.get(conversions.key(approval_doc, "doc", "docx")) is not None
    read_fields(approval_doc, campaign, cache)
    assert convert.soffice_runs() == before + 1


def test_another_converter_version_converts_again(tmp_path: Path, campaign: Campaign,
                                                  approval_doc: bytes,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ConversionCache(private_state(tmp_path))
    read_fields(approval_doc, campaign, cache)
    monkeypatch.setattr(conversions, "CONVERTER_VERSION", "upgraded")
    before = convert.soffice_runs()
    read_fields(approval_doc, campaign, cache)
    read_fields(approval_doc, campaign, cache)
    assert convert.soffice_runs() == before + 1
    assert len(list(cache.root.rglob("*.docx"))) == 1  # replaced, not piled up


def test_the_folder_is_bounded_oldest_use_first(tmp_path: Path) -> None:
    cache = ConversionCache(private_state(tmp_path), limit=10_000)
    keys = [conversions.key(str(n).encode(), "doc", "docx") for n in range(6)]
    for n, key in enumerate(keys[:4]):
        cache.put(key, bytes(2000))
        os.utime(cache.path(key), (1_000_000 + n, 1_000_000 + n))  # put in this order
    assert cache.get(keys[0]) is not None  # used again: now the most recent
    cache.put(keys[4], bytes(2000))
    cache.put(keys[5], bytes(2000))  # past 10,000 bytes with the headers
    kept = [key for key in keys if cache.path(key).exists()]
    assert keys[0] in kept and keys[1] not in kept and keys[5] in kept
    assert sum(cache.path(key).stat().st_size for key in kept) <= 10_000
    assert all(cache.get(key) == bytes(2000) for key in kept)


def test_the_old_pdf_cache_of_the_bundle_is_removed(tmp_path: Path) -> None:
    state = private_state(tmp_path)
    old = state / "cache" / "pdf"
    old.mkdir(parents=True)
    (old / f"{'0' * 64}.pdf").write_bytes(b"%PDF-1.4 kept by the bundle before")
    ConversionCache(state).put(conversions.key(b"x", "docx", "pdf"), b"%PDF-1.4")
    assert not old.exists() and (state / "cache" / "converted").is_dir()


def doc_set(studio: samples.StudioSample, soffice: str) -> list[tuple[str, bytes]]:
    """The unit's whole set, its 附件1 saved by Word 97 (a .doc)."""
    summary = convert.export(samples.summary_docx(studio.unit, [studio]), "docx", WORD_97,
                             soffice=soffice)
    return [("附件1-推荐汇总表.doc", summary), *full_set(studio)[1:]]


def export_rows(runtime: Runtime, fmt: str) -> bytes:
    with runtime.sessions() as session:
        return official.render(session, runtime.campaign, runtime.settings.state_dir, fmt)


def test_the_official_form_converts_each_doc_summary_once(tmp_path: Path, soffice: str) -> None:
    runtime = make_runtime(tmp_path)
    studios = (FIRST, LATE_ONE, PAIR_A)
    for n, studio in enumerate(studios):
        deliver(runtime, f"unit{n}@test.example", doc_set(studio, soffice))
    cache = ConversionCache(runtime.settings.state_dir)
    assert list(cache.root.rglob("*")) == []  # the intake kept nothing (no process cache)
    before = convert.soffice_runs()
    first = export_rows(runtime, "docx")
    # Each 附件1 converted once, all of them by one LibreOffice run (conversions.prefetch).
    assert convert.soffice_runs() == before + 1
    assert len(list(cache.root.rglob("*.docx"))) == len(studios)
    again = export_rows(runtime, "docx")
    export_rows(runtime, "xlsx")
    assert convert.soffice_runs() == before + 1  # none again
    for form in (first, again):
        rows = by_studio(docx_table(form)[1])
        assert set(rows) == {studio.name for studio in studios}
        assert rows[PAIR_A.name][1:8] == filled_in(PAIR_A)  # read from the .doc's row


def test_prefetch_converts_many_in_one_run_and_only_what_is_not_kept(
        tmp_path: Path, soffice: str, campaign: Campaign, approval_doc: bytes) -> None:
    others = [convert.export(samples.approval_docx(studio), "docx", WORD_97, soffice=soffice)
              for studio in (LATE_ONE, PAIR_A)]
    cache = ConversionCache(private_state(tmp_path))
    read_fields(approval_doc, campaign, cache)  # kept already
    items = [(approval_doc, "doc"), (others[0], "doc"), (others[1], "wps"),
             (others[0], "doc"), (b"not a Word file", "doc"), (b"PK", "docx")]
    before = convert.soffice_runs()
    assert conversions.prefetch(items, cache) == 2  # each new one once, damaged one left
    assert convert.soffice_runs() == before + 1
    assert [read_fields(data, campaign, cache)["工作室名称"] for data in others] == [
        LATE_ONE.name, PAIR_A.name]
    assert conversions.prefetch(items, cache) == 0
    assert convert.soffice_runs() == before + 1
    # With nowhere to keep them, converting ahead would only convert twice.
    assert conversions.prefetch(items, ConversionCache(tmp_path / "no-state")) == 0
    assert convert.soffice_runs() == before + 1


def test_what_the_intake_converted_the_export_does_not(tmp_path: Path, soffice: str) -> None:
    runtime = make_runtime(tmp_path)
    conversions.use(ConversionCache(runtime.settings.state_dir))  # as `mailbot poll` sets it
    deliver(runtime, "unit@test.example", doc_set(FIRST, soffice))
    conversions.use(None)
    before = convert.soffice_runs()
    export_rows(runtime, "docx")
    assert convert.soffice_runs() == before


def test_mailbot_poll_keeps_its_conversions_for_the_export(dovecot: Dovecot,
                                                           smtp_relay: SmtpRelay,
                                                           tmp_path: Path, soffice: str) -> None:
    """The commands set the process's cache: `mailbot poll` keeps what it converted in the
    state directory, and `mailbot export --official` finds it there."""
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bot.submit(UNIT_ADDRESS, doc_set(FIRST, soffice))
    env = bot.environment(MAILBOT_RULES=str(RULES))
    polled = mailbot("poll", cwd=tmp_path, env=env)
    assert polled.returncode == 0, polled.stderr
    cache = ConversionCache(bot.settings.state_dir)
    [entry] = cache.root.rglob("*.docx")  # the 附件1, converted by the intake
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    kept = entry.stat().st_ino
    out = tmp_path / "推荐汇总表.docx"
    exported = mailbot("export", "--official", "--out", str(out), cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert by_studio(docx_table(out.read_bytes())[1])[FIRST.name][1:8] == filled_in(FIRST)
    assert list(cache.root.rglob("*.docx")) == [entry]
    assert entry.stat().st_ino == kept  # served, not made again (that writes a new file)
