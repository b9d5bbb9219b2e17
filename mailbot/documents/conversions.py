"""LibreOffice's results kept by content, so that each distinct file is converted once.

A .doc 附件1 is converted to .docx when it comes in, again at every export of the form sent
upward, and printed to PDF again for every print bundle; each conversion is a soffice run of
1–3 s. Here the result of a run is kept under the SHA-256 of the bytes it was made from and
what was made of them, and served instead of running LibreOffice again:

    state/cache/converted/<aa>/<sha256 of the source>.<target>      (target: docx, xlsx, pdf)

An entry is a header line and the result. The header names the recipe (what LibreOffice was
given, the target, `CONVERTER_VERSION` and a fingerprint of the LibreOffice installation), the
source's SHA-256, the result's length and its SHA-256. An entry is served only when all of it
holds, so a truncated or damaged entry, or one from another LibreOffice or an older recipe, is
converted again and overwritten, never served. The cache is derivable: deleting it costs only
time, so it may be local to each worker.

Entries are written atomically (mailbot.atomic), the owner's only (0700 folders, 0600 files),
and only inside an existing state directory: with none (`mailbot check` on local files) nothing
is kept and every conversion runs. The folder is bounded (`DEFAULT_LIMIT`): past it, the entries
used longest ago are removed (a hit refreshes an entry's time). Several processes may share it;
each keeps its own estimate of the size, so the bound may be overshot by what the others wrote
since it last looked.

Who converts: `converted` (the reader: .doc, .wps, .xls, .et, .odt, .rtf to .docx/.xlsx), ahead
of it `prefetch` (the official form: every .doc 附件1 not kept yet, in a few LibreOffice runs),
and the print bundle (office.bundle: anything to PDF, in one LibreOffice run for what is not
kept).
`use` sets the cache of this process (the commands that have a state directory set it); a
caller with a state directory at hand passes its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mailbot.atomic import write_bytes
from mailbot.documents import convert, legacy
from mailbot.errors import DocumentError, StateError

# Raise when what LibreOffice is given or asked for changes (a filter, the bundle's page setup
# of spreadsheets, the image page): every entry made by the old recipe is then made again.
CONVERTER_VERSION = "1"
FOLDER = Path("cache") / "converted"  # in the state directory
DEFAULT_LIMIT = 2 * 2**30  # bytes: a few thousand forms and their PDFs
_LOW_WATER = 0.8  # pruning goes this far below the limit, so it does not run at every entry
_MAGIC = b"mailbot-conversion 1\t"
# The print bundle's own cache before this one (cache/pdf/<hash>.pdf): superseded, removed.
_OLD_FOLDERS = ("pdf",)
_MAX_HEADER = 512
# Files converted by one LibreOffice run in `prefetch`: more share its start-up, fewer cost
# less when one of them hangs the run (then each is converted alone afterwards).
PREFETCH_CHUNK = 20


@dataclass(frozen=True)
class Key:
    """One conversion: of the bytes with this SHA-256, by this recipe, to `target`."""

    digest: str
    recipe: str
    target: str


class ConversionCache:
    """The kept conversions of the state directory `state_dir`."""

    def __init__(self, state_dir: Path, *, limit: int = DEFAULT_LIMIT) -> None:
        self.state_dir = state_dir
        self.root = state_dir / FOLDER
        self.limit = limit

    def path(self, key: Key) -> Path:
        return self.root / key.digest[:2] / f"{key.digest}.{key.target}"

    def get(self, key: Key) -> bytes | None:
        """The kept result, or None when there is none, or none that can be trusted."""
        path = self.path(key)
        try:
            entry = path.read_bytes()
        except OSError:
            return None
        result = _unpack(entry, key)
        if result is None:
            # Damaged, truncated or made by another recipe: never served; made again.
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be pruned
        return result

    def put(self, key: Key, result: bytes) -> None:
        """Keep `result`. A cache that cannot be written only means converting again later."""
        if not self.state_dir.is_dir():
            return  # no state directory to live in: nothing is kept
        path = self.path(key)
        entry = _pack(key, result)
        try:
            for folder in (self.root.parent, self.root, path.parent):
                folder.mkdir(mode=0o700, exist_ok=True)
            write_bytes(path, entry)
        except (OSError, StateError):
            return
        if _SIZES.grow(self, len(entry)) > self.limit:
            self.prune()

    def prune(self) -> int:
        """Remove the entries used longest ago until the folder is well under its limit;
        the bytes removed."""
        entries: list[tuple[float, int, Path]] = []
        for path in self.root.glob("??/*"):
            with contextlib.suppress(OSError):
                status = path.stat()
                entries.append((status.st_mtime, status.st_size, path))
        total = sum(size for _time, size, _path in entries)
        removed = 0
        if total > self.limit:
            for _time, size, path in sorted(entries):
                if total - removed <= self.limit * _LOW_WATER:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += size
        _SIZES.set(self, total - removed)
        return removed


class _Sizes:
    """Each cache folder's size as this process last saw it, and what it has added since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes: dict[Path, int] = {}

    def grow(self, cache: ConversionCache, added: int) -> int:
        with self._lock:
            known = self._bytes.get(cache.root)
        if known is None:  # the first entry of this process: count what is there
            for name in _OLD_FOLDERS:
                shutil.rmtree(cache.root.parent / name, ignore_errors=True)
            cache.prune()
        with self._lock:
            self._bytes[cache.root] = self._bytes.get(cache.root, 0) + (
                added if known is not None else 0)
            return self._bytes[cache.root]

    def set(self, cache: ConversionCache, size: int) -> None:
        with self._lock:
            self._bytes[cache.root] = size


_SIZES = _Sizes()
_process_cache: ConversionCache | None = None


def use(cache: ConversionCache | None) -> None:
    """The cache of this process from now on (None: keep nothing)."""
    global _process_cache
    _process_cache = cache


def key(data: bytes, source: str, target: str) -> Key:
    """The key of converting `data`, given to LibreOffice as `source` (an extension, or the
    caller's name for what it does first), to `target`."""
    recipe = f"{source}>{target}@{CONVERTER_VERSION}-{installation()}"
    return Key(hashlib.sha256(data).hexdigest(), recipe, target)


def converted(data: bytes, fmt: str, cache: ConversionCache | None = None) -> bytes:
    """`convert.convert(data, fmt)`, made once per content: from `cache` (else this process's
    cache) when kept there. Raises as `convert.convert` does; a failure is not kept."""
    cache = cache or _process_cache
    if cache is None:
        return convert.convert(data, fmt)
    extension, target, _filter = convert.TARGETS[fmt]
    wanted = key(data, extension, target)
    kept = cache.get(wanted)
    if kept is not None:
        return kept
    result = convert.convert(data, fmt)
    cache.put(wanted, result)
    return result


def prefetch(items: Iterable[tuple[bytes, str]], cache: ConversionCache | None = None) -> int:
    """Convert ahead, one LibreOffice run for up to PREFETCH_CHUNK files, what `converted`
    would convert one run each and `cache` does not hold yet: (data, fmt) items, as
    `converted` takes them, read as they are needed (a chunk's files at a time in memory). A
    file refused as it stands (a password, macros) or that LibreOffice cannot convert is left
    to `converted`, which says why. How many were converted."""
    cache = cache or _process_cache
    if cache is None or not cache.state_dir.is_dir():
        return 0  # nowhere to keep them: converting ahead would be converting twice
    done = 0
    chunk: dict[Key, tuple[bytes, str]] = {}
    for data, fmt in items:
        if fmt not in convert.TARGETS:
            continue
        extension, target, _filter = convert.TARGETS[fmt]
        needed = key(data, extension, target)
        if needed in chunk or cache.get(needed) is not None:  # kept already, and whole
            continue
        try:
            legacy.inspect(data, fmt)
        except DocumentError:
            continue
        chunk[needed] = (data, fmt)
        if len(chunk) == PREFETCH_CHUNK:
            done += _convert_chunk(chunk, cache)
            chunk = {}
    if len(chunk) > 1:  # a single file: `converted` converts it just as fast
        done += _convert_chunk(chunk, cache)
    return done


def _convert_chunk(chunk: dict[Key, tuple[bytes, str]], cache: ConversionCache) -> int:
    try:
        made = convert.convert_all(list(chunk.values()))
    except DocumentError:  # no LibreOffice: `converted` says so, file by file
        return 0
    for needed, result in zip(chunk, made, strict=True):
        if result is not None:
            cache.put(needed, result)
    return sum(result is not None for result in made)


def installation() -> str:
    """A fingerprint of the LibreOffice that converts (which one, and its version file as
    installed), so that an upgrade makes every entry again; "none" without LibreOffice."""
    soffice = convert.find_soffice()
    if soffice is None:
        return "none"
    program = Path(os.path.realpath(soffice)).parent
    digest = hashlib.sha256(str(program).encode())
    # versionrc (program/ on Linux and Windows, Resources/ on macOS) names the build; the
    # package manager rewrites it on every upgrade, which its time records too.
    for candidate in (program / "versionrc", program.parent / "Resources" / "versionrc",
                      Path(os.path.realpath(soffice))):
        with contextlib.suppress(OSError):
            status = candidate.stat()
            digest.update(f"{candidate}:{status.st_size}:{status.st_mtime_ns}".encode())
            if candidate.name == "versionrc":
                digest.update(candidate.read_bytes())
                break
    return digest.hexdigest()[:16]


def _pack(key: Key, result: bytes) -> bytes:
    header = "\t".join((key.recipe, key.digest, str(len(result)),
                        hashlib.sha256(result).hexdigest()))
    return _MAGIC + header.encode() + b"\n" + result


def _unpack(entry: bytes, key: Key) -> bytes | None:
    """The result an entry holds when it is whole and made by `key`'s recipe, else None."""
    if not entry.startswith(_MAGIC):
        return None
    end = entry.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        return None
    try:
        recipe, digest, length, checksum = entry[len(_MAGIC):end].decode().split("\t")
    except ValueError:  # not four fields, or not text (UnicodeDecodeError is a ValueError)
        return None
    result = entry[end + 1:]
    if (recipe, digest) != (key.recipe, key.digest) or length != str(len(result)):
        return None
    if hashlib.sha256(result).hexdigest() != checksum:
        return None
    return result


def keep_in(state_dir: Path) -> None:
    """LibreOffice's conversions made by this process kept in `state_dir` (poll, run, export,
    serve; not `check`, which has no state directory of its own)."""
    use(ConversionCache(state_dir))
