"""Fail on an import of a project module inside a function body that does not say why it is local.

An import of `apps.…`, `bizosaas.…` or a relative module belongs at module level unless something forces it
into a function (an import cycle, the apps registry, Temporal's sandbox, a heavy optional dependency). The
reason goes in a trailing comment on the import, or in a comment line directly above it (or above the block
of consecutive imports it belongs to). `make lint` runs this; it prints path:line: import for each offence.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("apps", "bizosaas")
# a pragma is not a reason: a bare `noqa: F401` does not count, `noqa: F401  (registers the receivers)` does
PRAGMA = re.compile(r"noqa(: *[A-Z]+[0-9]+(, *[A-Z]+[0-9]+)*)?|type: *ignore(\[[^]]*\])?")


def _is_project(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        names = [node.module or ""] if not node.level else None
    else:
        names = [alias.name for alias in node.names]
    return names is None or any(name.split(".")[0] in PACKAGES for name in names)


def _has_reason(line: str) -> bool:
    """Whether the line's comment says something besides pragmas (an import holds no string: `#` starts it)."""
    return bool(PRAGMA.sub("", line.partition("#")[2]).strip(" ()"))


def _reasoned(lines: list[str], node: ast.stmt, body: list[ast.stmt]) -> bool:
    if any(_has_reason(lines[n - 1]) for n in range(node.lineno, node.end_lineno + 1)):
        return True
    index = body.index(node)
    while (
        index
        and isinstance(body[index - 1], ast.Import | ast.ImportFrom)
        and body[index - 1].end_lineno == (body[index].lineno - 1)
    ):
        index -= 1  # up to the first import of a block of consecutive ones
    above = body[index].lineno - 2
    return above >= 0 and lines[above].strip().startswith("#") and _has_reason(lines[above])


def offences(source: str, path: str = "<source>") -> list[str]:
    """path:line: import, for each unexplained project import in a function body of `source`."""
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            for child in body:
                local = in_function and isinstance(child, ast.Import | ast.ImportFrom) and _is_project(child)
                if local and not _reasoned(lines, child, body):
                    found.append(f"{path}:{child.lineno}: {ast.unparse(child)}")
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(source), False)
    return found


def main() -> int:
    found = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            path = file.relative_to(ROOT).as_posix()
            if "migrations" not in file.parts:
                found += offences(file.read_text(), path)
    sys.stdout.writelines(f"{line}\n" for line in found)
    if found:
        sys.stderr.write(f"{len(found)} function-level import(s) of project modules without a reason\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
