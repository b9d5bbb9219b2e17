"""Build hook: the checkout's top-level rules/ and templates/ travel inside the wheel.

They stay where operators look for them in a checkout (and where the README points); a wheel
has no place for top-level folders, so build_py copies them to mailbot/_bundled/, where
mailbot.config finds them when installed. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("rules", "templates")


class BuildWithSamples(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        root = Path(__file__).resolve().parent
        for name in SHIPPED:
            target = Path(self.build_lib) / "mailbot" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)  # a file removed here leaves no stale copy
            self.copy_tree(str(root / name), str(target))


setup(cmdclass={"build_py": BuildWithSamples})
