"""`cuekit plugins`: what is installed, where it comes from, and why anything failed to load."""

from __future__ import annotations

import argparse
import json
import sys

from app.plugins.base import GROUPS
from app.plugins.registry import Registry


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cuekit plugins", description=__doc__)
    p.add_argument("--json", action="store_true", help="print the manifest (one JSON object) on stdout")
    p.add_argument("--group", choices=GROUPS, help="only this entry-point group")
    p.add_argument(
        "--validate",
        action="store_true",
        help="also run each plugin's validate step with an empty config (is its device there?)",
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    reg = Registry()
    entries = [e for e in reg.load_all() if args.group in (None, e.group)]
    if args.validate:
        for e in entries:
            if e.status == "ok":
                try:
                    reg.check(e.group, e.name, {})
                except Exception as exc:  # noqa: BLE001 - an empty config may not satisfy the schema
                    e.error = f"not validated without a config: {exc}"
    failed = [e for e in entries if e.status == "failed"]
    if args.json:
        print(
            json.dumps(
                {"plugins": [e.to_json() for e in entries], "conflicts": reg.conflicts, "failed": len(failed)},
                indent=1,
                default=str,
            )
        )
        return 0
    for group in GROUPS:
        rows = [e for e in entries if e.group == group]
        if not rows:
            continue
        print(group)
        for e in sorted(rows, key=lambda e: e.name):
            io = ""
            if e.spec is not None:
                io = (
                    f"{','.join(t.__name__ for t in e.spec.consumes) or '-'} -> "
                    f"{','.join(t.__name__ for t in e.spec.produces) or '-'}"
                )
            print(f"  {e.name:<18} {e.status:<9} {e.origin:<24} {io}")
            if e.error:
                print(f"      {e.error}")
            if e.validation is not None and not e.validation.ok:
                print(f"      declined: {e.validation.reason}")
    for c in reg.conflicts:
        print(f"conflict: {c}")
    if failed:
        print(f"{len(failed)} plugin(s) failed to load", file=sys.stderr)
    return 0
