"""Where a key sits in a spec's source text: tomllib and yaml.safe_load give no positions, so error
messages find the line by scanning (TOML) or from the composed node tree (YAML)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from fusion.spec_model import SpecError


def _split_header(h: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', h)
    return [a or b or c for a, b, c in parts]


def toml_line_of(text: str, path: list[str | int]) -> int | None:
    """1-based line of the key `path` in TOML `text`, found by scanning (best effort)."""
    lines = text.splitlines()
    headers: list[tuple[int, list[str], bool]] = []
    for i, ln in enumerate(lines):
        m = re.match(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", ln)
        if m:
            headers.append((i, _split_header(m.group(2)), m.group(1) == "[["))
    keys = [p for p in path if isinstance(p, str)]
    # the header naming the longest prefix of the path; array-of-tables use the index after the name
    best_line, best_len = 0, 0
    for idx, (i, hk, is_array) in enumerate(headers):
        if len(hk) <= len(keys) and keys[: len(hk)] == hk and len(hk) >= best_len:
            if is_array:
                # which occurrence does the path want?
                pos = _path_index_after(path, hk)
                nth = sum(1 for (_, hk2, arr2) in headers[:idx] if arr2 and hk2 == hk)
                if pos is not None and nth != pos:
                    continue
            if len(hk) > best_len or best_line == 0:
                best_line, best_len = i, len(hk)
    if best_len == 0 and not keys:
        return None
    cur = best_line
    end = next((i for i, _, _ in headers if i > best_line), len(lines))
    remaining = _remaining(path, best_len)
    found_any = best_len > 0
    for p in remaining:
        if isinstance(p, int):
            ln = lines[cur] if cur < len(lines) else ""
            if ln.split("#")[0].rstrip().endswith("["):
                k, j = -1, cur
                while k < p and j + 1 < end:
                    j += 1
                    s = lines[j].strip()
                    if s and not s.startswith("#") and s not in ("]", "],"):
                        k += 1
                if k == p:
                    cur = j
            continue
        pat = re.compile(r'(^|[\s{,.])["\']?' + re.escape(p) + r'["\']?\s*[=.]')
        for j in range(cur, end):
            if pat.search(lines[j].split("#")[0]):
                cur = j
                found_any = True
                break
        else:
            break
    return cur + 1 if found_any else None


def _path_index_after(path: list[str | int], hk: list[str]) -> int | None:
    n = 0
    for i, p in enumerate(path):
        if isinstance(p, str):
            n += 1
            if n == len(hk):
                nxt = path[i + 1] if i + 1 < len(path) else None
                return nxt if isinstance(nxt, int) else None
    return None


def _remaining(path: list[str | int], n_keys: int) -> list[str | int]:
    seen = 0
    for i, p in enumerate(path):
        if seen == n_keys:
            rest = path[i:]
            # an array-of-tables index right after the header was already used
            if rest and isinstance(rest[0], int) and n_keys > 0:
                rest = rest[1:]
            return list(rest)
        if isinstance(p, str):
            seen += 1
    return []


def format_key(path: list[str | int]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def yaml_line_of(node: Any, path: list[str | int]) -> int | None:
    """1-based line of `path` in a composed YAML node tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for p in path:
        if isinstance(node, yaml.MappingNode) and isinstance(p, str):
            for k, v in node.value:
                if k.value == p:
                    node = v
                    line = k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
            node = node.value[p]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def path_of(key: str) -> list[str | int]:
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return out


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text, or a SpecError at the line of the first byte that is not (a latin-1 file, binary)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            path,
            line,
            "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
        ) from None


def deepest_line(text: str) -> int | None:
    """The line where bracket nesting is deepest (strings ignored roughly), for 'nests too deeply'."""
    depth, best, best_line, line, quote = 0, 0, None, 1, ""
    for ch in text:
        if ch == "\n":
            line += 1
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
        elif ch in "]}":
            depth -= 1
    return best_line
