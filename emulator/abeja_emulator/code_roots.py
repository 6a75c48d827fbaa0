"""Where a version's `code_dir` may point: only under folders the user allowed (`--code-root`).

`code_dir` is the emulator's local shortcut (the platform only takes uploads): whoever can create a
version can make the emulator run the Python files of that folder. Limiting it to chosen folders means
a stray or hostile request cannot start code from elsewhere on the laptop (a home folder, a checkout).
The default is what the tests and the demo use: the temporary folder and the sample handler.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from .sample import SAMPLE_HANDLER_DIR


def default_code_roots() -> tuple[Path, ...]:
    return (Path(tempfile.gettempdir()).resolve(), Path(SAMPLE_HANDLER_DIR).resolve())


class CodeRoots:
    """The allowed folders, resolved (a symlink cannot lead out of them)."""

    def __init__(self, roots: Iterable[str | Path] | None = None) -> None:
        chosen = default_code_roots() if roots is None else tuple(Path(r).resolve() for r in roots)
        self.roots: tuple[Path, ...] = chosen

    def allows(self, code_dir: str) -> bool:
        resolved = Path(code_dir).resolve()
        return any(resolved == root or root in resolved.parents for root in self.roots)

    def describe(self) -> str:
        return ", ".join(str(root) for root in self.roots) or "none"
