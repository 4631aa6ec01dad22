#!/usr/bin/env python3
"""Compile, and run, the C++ code blocks of the documentation.

    check_snippets.py --cxx g++ --include include --lib build/gcc/libasyncio.a
                      [--cxxflags "..."] [--ldflags "..."] [--run] [--work DIR]
                      [--jobs N] docs/*.md

Every ```cpp block of a page is checked. What the HTML comment on the line
before its fence (a blank line may come between) says decides how:

  (none)                       declarations: the page's blocks, in order, after
                               a fixed prelude (<asyncio/asyncio.hpp>, the
                               common standard headers, std::chrono_literals),
                               make one translation unit. If it defines
                               `int main`, it is a program; else it is only
                               compiled (-c).
  <!-- snippet: fragment -->   statements: the block becomes the body of a
                               coroutine `asyncio::Coroutine<> fragment_N(...)`
                               in that translation unit, which may use `loop`
                               (EventLoop&), `server` (Server&), `reader`
                               (StreamReader&) and `writer` (StreamWriter&);
                               unused locals are not an error there.
  <!-- snippet: program -->    a whole program, as a reader would copy it: a
                               translation unit of its own, without the
                               prelude, linked and (with --run) run.
  <!-- snippet: skip -->       not checked: for code shown as wrong on purpose.

A program must exit with status 0 within 30 s. A ```text block marked
<!-- snippet: output --> must be exactly what the nearest program above it
(a `program` block, else the page's own program) prints on stdout.

Flags: -std=c++20 -Wall -Wextra -Werror, then --cxxflags; links with --lib,
-luv -lssl -lcrypto -lpthread and --ldflags. Prints one line per page, OK or FAIL (with the
compiler's or the program's output), and exits 1 if any page failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PRELUDE = """\
#include <asyncio/asyncio.hpp>

#include <any>
#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
"""

FRAGMENT_OPEN = """\
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
asyncio::Coroutine<> fragment_{n}([[maybe_unused]] asyncio::EventLoop& loop, [[maybe_unused]] asyncio::Server& server,
                                  [[maybe_unused]] asyncio::StreamReader& reader,
                                  [[maybe_unused]] asyncio::StreamWriter& writer) {{
  {{
"""
FRAGMENT_CLOSE = """\
  }
  co_return;
}
#pragma GCC diagnostic pop
"""

FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*([\w-]+)\s*-->\s*$")
MAIN = re.compile(r"^\s*int\s+main\s*\(", re.MULTILINE)
CPP_KINDS = {None, "fragment", "program", "skip"}
RUN_TIMEOUT = 30


@dataclass
class Block:
    lang: str
    kind: str | None
    line: int  # 1-based line of the first line of code
    text: str


@dataclass
class Unit:
    """One translation unit: the page's own, or a `program` block."""

    page: Path
    name: str
    source: str
    program: bool
    expected: list[tuple[int, str]] = field(default_factory=list)  # (line, stdout)


def parse(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the marker before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = len(m.group(1)), m.group(2)
        prev = i - 1
        if prev >= 0 and not lines[prev].strip():
            prev -= 1
        marker = MARKER.match(lines[prev]) if prev >= 0 else None
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j].lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: unclosed code fence")
        blocks.append(Block(lang, marker.group(1) if marker else None, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def units_of(page: Path, blocks: list[Block]) -> tuple[list[Unit], list[str]]:
    """The translation units of a page, and the marker errors found."""
    errors: list[str] = []
    page_unit = Unit(page, page.stem, PRELUDE, False)
    programs: list[Unit] = []
    fragments = 0
    last_program: Unit | None = None
    pending_output: list[tuple[int, str]] = []  # outputs before any program block
    for b in blocks:
        where = f"{page}:{b.line - 1}"
        if b.lang == "cpp":
            if b.kind not in CPP_KINDS:
                errors.append(f"{where}: unknown marker 'snippet: {b.kind}' on a cpp block")
            elif b.kind == "program":
                last_program = Unit(page, f"{page.stem}.program{len(programs) + 1}",
                                    f"#line {b.line}\n{b.text}", True)
                programs.append(last_program)
            elif b.kind == "fragment":
                fragments += 1
                page_unit.source += FRAGMENT_OPEN.format(n=fragments) + f"#line {b.line}\n{b.text}" + FRAGMENT_CLOSE
            elif b.kind is None:
                page_unit.source += f"#line {b.line}\n{b.text}"
        elif b.kind == "output":
            if b.lang != "text":
                errors.append(f"{where}: 'snippet: output' marks a ```{b.lang} block, not ```text")
            elif last_program is not None:
                last_program.expected.append((b.line, b.text))
            else:
                pending_output.append((b.line, b.text))
        elif b.kind is not None:
            errors.append(f"{where}: marker 'snippet: {b.kind}' on a ```{b.lang} block")
    page_unit.program = bool(MAIN.search(page_unit.source))
    page_unit.expected = pending_output
    if pending_output and not page_unit.program:
        errors.append(f"{page}:{pending_output[0][0] - 1}: 'snippet: output' with no program above it")
    units = ([page_unit] if page_unit.source != PRELUDE else []) + programs
    return units, errors


def check_unit(unit: Unit, args: argparse.Namespace, work: Path) -> tuple[str, str | None]:
    """Builds (and runs) one unit: a short summary and, on failure, the details."""
    src = work / f"{unit.name}.cpp"
    src.write_text(unit.source, encoding="utf-8")
    cmd = [args.cxx, "-std=c++20", "-Wall", "-Wextra", "-Werror", f"-I{args.include}",
           *shlex.split(args.cxxflags)]
    if unit.program:
        exe = work / unit.name
        cmd += [str(src), "-o", str(exe), args.lib, "-luv", "-lssl", "-lcrypto", "-lpthread", *shlex.split(args.ldflags)]
    else:
        cmd += ["-c", str(src), "-o", str(work / f"{unit.name}.o")]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        # `#line` keeps the file name (a different one would make GCC take the
        # code for a header's: -Wsubobject-linkage); the lines are the page's.
        log = (built.stdout + built.stderr).replace(str(src), str(unit.page))
        return unit.name, f"does not build ({src}):\n{log}"
    if not unit.program or not args.run:
        return unit.name, None
    try:
        ran = subprocess.run([str(exe)], cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=RUN_TIMEOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    except subprocess.TimeoutExpired:
        return unit.name, f"still running after {RUN_TIMEOUT} s ({exe})"
    if ran.returncode != 0:
        return unit.name, (f"exited with status {ran.returncode} ({exe})\n--- stdout\n{ran.stdout}"
                           f"--- stderr\n{ran.stderr}")
    for line, text in unit.expected:
        if ran.stdout != text:
            return unit.name, (f"printed something else than the output block at {unit.page}:{line}\n"
                               f"--- expected\n{text}--- printed\n{ran.stdout}")
    return unit.name + " ran" + (", output matches" if unit.expected else ""), None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cxx", required=True, help="the C++ compiler")
    parser.add_argument("--include", required=True, help="the library's include directory")
    parser.add_argument("--lib", required=True, help="the library archive to link programs with")
    parser.add_argument("--cxxflags", default="", help="more compiler flags")
    parser.add_argument("--ldflags", default="", help="more link flags")
    parser.add_argument("--run", action="store_true", help="run the programs")
    parser.add_argument("--work", help="where the sources and binaries go (default: a temporary directory)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="compilers run at once")
    parser.add_argument("pages", nargs="+", type=Path)
    args = parser.parse_args()
    args.include = os.path.abspath(args.include)
    args.lib = os.path.abspath(args.lib)

    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="doc-snippets-")
    work = Path(args.work or tmp.name).resolve()
    work.mkdir(parents=True, exist_ok=True)

    pages: dict[Path, tuple[list[Unit], list[str]]] = {}
    for page in args.pages:
        try:
            pages[page] = units_of(page, parse(page))
        except ValueError as e:
            pages[page] = ([], [str(e)])
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = {page: [pool.submit(check_unit, u, args, work) for u in units]
                   for page, (units, _) in pages.items()}
        failed = 0
        for page, (units, errors) in pages.items():
            outcomes = [f.result() for f in results[page]]
            problems = errors + [f"{name}: {detail}" for name, detail in outcomes if detail]
            if problems:
                failed += 1
                print(f"FAIL {page}")
                for p in problems:
                    print("  " + p.rstrip().replace("\n", "\n  "))
            else:
                summary = ", ".join(name for name, _ in outcomes) or "no C++ blocks"
                print(f"OK   {page}: {summary}")
            sys.stdout.flush()
    if tmp:
        tmp.cleanup()
    print(f"{len(pages) - failed} of {len(pages)} pages OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
