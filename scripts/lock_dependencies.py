"""Write requirements.lock and requirements-test.lock from the virtualenv it runs in.

`make lock` runs it with .venv/bin/python after the tests passed: requirements.lock pins every
package mailbot needs at run time (its dependencies, and theirs), requirements-test.lock the
test tools on top. The Makefile installs from them, so a fresh machine gets the versions the
tests passed with. Only the installed distributions' own metadata is read; nothing is fetched.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(wanted: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Every installed distribution `wanted` needs, with the extras they ask for
    (`psycopg[binary]` brings psycopg-binary)."""
    found: dict[str, metadata.Distribution] = {}
    asked: dict[str, set[str]] = {}
    stack: list[tuple[str, set[str]]] = [(r.name, set(r.extras)) for r in wanted]
    while stack:
        name, extras = stack.pop()
        key = _key(name)
        if key in found and extras <= asked[key]:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency for another platform or Python: not installed here
        found[key] = dist
        asked[key] = asked.get(key, set()) | extras
        for text in dist.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in asked[key] | {""}):
                stack.append((requirement.name, set(requirement.extras)))
    return found


def pins(found: dict[str, metadata.Distribution]) -> list[str]:
    return sorted((f"{d.metadata['Name']}=={d.version}" for d in found.values()), key=str.lower)


def main() -> None:
    own = [Requirement(text) for text in metadata.distribution("mailbot").requires or []]
    runtime = [r for r in own if r.marker is None]
    test = [r for r in own if r.marker is not None and r.marker.evaluate({"extra": "test"})]
    base = pins(closure(runtime))
    extra = [pin for pin in pins(closure(runtime + test)) if pin not in base]
    (ROOT / "requirements.lock").write_text(
        "# Pinned run-time dependencies: the versions the tests passed with (`make lock`).\n"
        "# pip install -r requirements.lock && pip install --no-deps .\n"
        + "\n".join(base) + "\n", encoding="utf-8")
    (ROOT / "requirements-test.lock").write_text(
        "# Pinned test tools on top of requirements.lock (`make lock`).\n-r requirements.lock\n"
        + "\n".join(extra) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
