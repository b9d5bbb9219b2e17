"""A normal, non-editable install works: the wheel carries the sample rules and the reply
templates, and `mailbot demo` runs from an empty folder far from the checkout.

The wheel is built from this checkout (`pip wheel --no-deps`) and installed, without its
dependencies, into a fresh virtualenv; the dependencies come from the test virtualenv's
site-packages through a .pth file (no download, a few seconds). The test then checks that the
`mailbot` it runs is the installed copy, not this checkout. It takes about half a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_a_wheel_install_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                "--disable-pip-version-check", "-w", wheels, ROOT, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("mailbot-*.whl")

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=tmp_path).stdout.strip())
    # The dependencies, from the test virtualenv (a .pth line adds the folder, but does not
    # run that folder's own .pth files, so this checkout's editable install stays out).
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                    "--no-index", "--quiet", "--disable-pip-version-check", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAILBOT_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["COLUMNS"] = "200"
    where = run(python, "-c", "import mailbot.config as c; print(c.__file__); "
                "print(c.DEFAULT_RULES_DIR); print(c.DEFAULT_TEMPLATES_DIR)", cwd=empty, env=env)
    module, rules, templates = where.stdout.split()
    assert Path(module).is_relative_to(site), module  # the installed copy, not the checkout
    assert Path(rules) == site / "mailbot" / "_bundled" / "rules"
    assert sorted(p.name for p in Path(rules).glob("*.toml")) == sorted(
        p.name for p in (ROOT / "rules").glob("*.toml"))
    assert {p.name for p in Path(templates).iterdir()} == {
        p.name for p in (ROOT / "templates").iterdir()}

    demo = run(fresh / "bin" / "mailbot", "demo", cwd=empty, env=env)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "【已受理】" in demo.stdout and re.search(r"回复已发送 [1-9]\d* 封", demo.stdout)
    assert (empty / "state" / "demo" / "汇总表.xlsx").is_file()
    assert not list(empty.glob("*.toml"))  # nothing needed beside it

    helped = run(fresh / "bin" / "mailbot", "doctor", "--help", cwd=empty, env=env)
    assert helped.returncode == 0 and "doctor" in helped.stdout
    checked = run(fresh / "bin" / "mailbot", "check", "--help", cwd=empty, env=env)
    assert checked.returncode == 0
