"""A strict logfmt reader for the tests: key=value pairs, values bare or double-quoted with
backslash escapes. Written from the format's description, not from the server's code."""

from __future__ import annotations

import re

_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)(?: |$)')
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            code = text[index + 1]
            if code == "u":
                out.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
            out.append(_UNESCAPE[code])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def parse_logfmt(line: str) -> dict[str, str]:
    """The pairs of one line; AssertionError when any part of it is not logfmt."""
    fields, position = {}, 0
    while position < len(line):
        match = _PAIR.match(line, position)
        assert match, f"not logfmt at {position}: {line[position : position + 40]!r} in {line!r}"
        key, value = match.group(1), match.group(2)
        fields[key] = _unquote(value[1:-1]) if value.startswith('"') else value
        position = match.end()
    return fields
