"""Lines of Python code without blanks, comments and docstrings: the size figure the changelog and
the architecture page quote.

``python scripts/code_size.py airflow_provider_abeja`` prints the total; ``-v`` each file too;
``--exclude PART`` (repeatable) leaves out the files whose path contains PART.
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path

_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}


def docstring_lines(tree: ast.AST) -> set[int]:
    """The line numbers of every module, class and function docstring."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(path: Path) -> int:
    """Lines that hold a token of code and are not part of a docstring."""
    source = path.read_text(encoding="utf-8")
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines(ast.parse(source)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--exclude", action="append", default=[], metavar="PART")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    files = sorted(
        file
        for path in args.paths
        for file in (path.rglob("*.py") if path.is_dir() else [path])
        if not any(part in str(file) for part in args.exclude)
    )
    total = 0
    for file in files:
        count = code_lines(file)
        total += count
        if args.verbose:
            print(f"{count:6d} {file}")
    print(f"{total:6d} total")


if __name__ == "__main__":
    main()
