"""Whole-spec validation that needs the complete spec: macros (unknown, cyclic), how many phrasings the
speech expressions multiply out to, and trigger trees whose conditions can never fire.

Each check takes `err(key_path, message) -> SpecError`, so the caller decides how a key becomes a
file:line; the checks only say which key is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fusion.spec_locate import path_of
from fusion.spec_model import Combo, Intent, Leaf, Node, SpecError
from perception.speech.expressions import Element, Expression, Group, Macro

# The speech grammar compiler multiplies every expression out (alternatives x optionals x macros) into
# token sequences; a few hundred bytes of nested alternatives reach billions of them. The shipped specs
# need a few hundred; this allows two orders of magnitude more, and stops a 332-byte spec from taking
# gigabytes.
MAX_PHRASINGS = 50_000

ErrorFactory = Callable[[list, str], SpecError]


def check_macro_cycles(macros: dict[str, list[Expression]], err: ErrorFactory, key_of: Callable[[str], list]) -> None:
    """A macro that reaches itself through other macros would make every matcher recurse forever."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for expr in macros.get(name, []):
            for ref in expr.macros():
                if ref not in macros:
                    continue  # unknown macros are reported by check_unknown_macros, with the using key
                if state.get(ref) == 1:
                    cycle = path[path.index(ref) :] + [ref] if ref in path else [name, ref]
                    raise err(
                        key_of(ref), "macros refer to each other in a cycle: " + " -> ".join("@" + m for m in cycle)
                    )
                if state.get(ref) is None:
                    visit(ref, path + [ref])
        state[name] = 2

    for name in macros:
        if state.get(name) is None:
            visit(name, [name])


def check_unknown_macros(intents: dict[str, Intent], macros: dict[str, list[Expression]], err: ErrorFactory) -> None:
    for it in intents.values():
        for lf in it.leaves():
            for e in lf.expressions:
                for m in e.macros():
                    if m not in macros:
                        raise err(path_of(lf.key), f"expression uses unknown macro '@{m}'")


def count_phrasings(
    elements: Sequence[Element],
    macros: dict[str, list[Expression]],
    cap: int = MAX_PHRASINGS + 1,
    _memo: dict[str, int] | None = None,
) -> int:
    """How many token sequences `elements` multiply out to (slots count once), saturating at `cap` so
    the count itself stays cheap. Macros must be acyclic (check_macro_cycles first)."""
    memo = {} if _memo is None else _memo
    total = 1
    for el in elements:
        if isinstance(el, Group):
            n = sum(count_phrasings(alt, macros, cap, memo) for alt in el.alternatives) + int(el.optional)
        elif isinstance(el, Macro):
            if el.name not in memo:
                memo[el.name] = min(
                    cap, sum(count_phrasings(e.elements, macros, cap, memo) for e in macros.get(el.name, []))
                )
            n = memo[el.name]
        else:
            n = 1
        total = min(cap, total * max(n, 1))
    return total


def check_expansion(
    intents: dict[str, Intent], macros: dict[str, list[Expression]], err: ErrorFactory, limit: int = MAX_PHRASINGS
) -> None:
    """Refuse a spec whose speech expressions multiply out to more than `limit` phrasings in total."""
    memo: dict[str, int] = {}
    total = 0
    for it in intents.values():
        for lf in it.leaves():
            for e in lf.expressions:
                n = count_phrasings(e.elements, macros, limit + 1, memo)
                total += n
                if total > limit:
                    what = (
                        f"this expression alone multiplies out to more than {limit:,} phrasings"
                        if n > limit
                        else f"the spec's expressions multiply out to more than {limit:,} phrasings in total"
                    )
                    raise err(
                        path_of(lf.key),
                        f"{what} (alternatives x optionals x macros); "
                        "a speech grammar that large cannot be compiled: use slots for lists of words",
                    )


def check_conditions(node: Node, err: ErrorFactory, top: bool = True) -> None:
    """A bare context condition can never fire: it has no moment of its own."""
    if isinstance(node, Leaf):
        if node.is_condition and top:
            raise err(
                path_of(node.key),
                f"context predicate {node.predicate}() alone never fires: "
                "give it dwell_ms or combine it with an event in 'all'/'sequence'",
            )
        return
    assert isinstance(node, Combo)
    if node.op == "any":
        for c in node.children:
            check_conditions(c, err, top=True)
    else:
        if all(isinstance(c, Leaf) and c.is_condition for c in node.children):
            raise err(path_of(node.key), f"'{node.op}' needs at least one event, not only conditions")
        for c in node.children:
            if isinstance(c, Combo):
                check_conditions(c, err, top=False)
