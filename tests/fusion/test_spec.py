import re
from pathlib import Path

import pytest

from fusion.spec import (
    SPECS_DIR,
    SpecError,
    SpecOptions,
    load_rhino_context,
    load_spec,
    loads_spec,
    speech_grammar,
    toml_line_of,
)
from perception.context import Scene, Target
from perception.speech.expressions import expand, match_tokens, parse_expression, tokenize

REQUIRED = {
    "select",
    "open",
    "close",
    "back",
    "next",
    "previous",
    "scroll",
    "volume_up",
    "volume_down",
    "take_photo",
    "move",
    "confirm",
    "cancel",
    "dismiss",
    "wake",
    "sleep",
}


def test_default_spec_has_every_required_intent_and_each_combinator():
    spec = load_spec("default_ar")
    assert REQUIRED <= set(spec.intents)
    ops = set()

    def walk(n):
        if hasattr(n, "op"):
            ops.add(n.op)
            for c in n.children:
                walk(c)

    for it in spec.intents.values():
        walk(it.trigger)
    assert ops == {"any", "all", "sequence"}
    assert spec.intents["move"].slots == {"object": "target", "destination": "target"}
    assert spec.intents["move"].priority == 5 and spec.intents["select"].refractory_ms == 500
    preds = {lf.predicate for it in spec.intents.values() for lf in it.leaves() if lf.predicate}
    assert preds == {"gaze_on", "pointing_at"}


def test_parse_text_uses_spec_expressions_and_scene_names():
    spec = load_spec("default_ar")
    scene = Scene([Target("lamp1", "lamp", (0, 0, 10, 10), aliases=("light",))])
    assert spec.parse_text("move that there") == ("move", {"object": "that", "destination": "there"})
    assert spec.parse_text("select the light", scene) == ("select", {"target": "lamp1"})
    assert spec.parse_text("open that lamp", scene) == ("open", {"target": "lamp1"})
    assert spec.parse_text("scroll sideways") is None


def test_speech_grammar_lists_expressions_and_slot_values():
    spec = load_spec("default_ar")
    scene = Scene([Target("lamp1", "lamp", (0, 0, 10, 10))])
    g = speech_grammar(spec, scene)
    assert "[move, put] $target:object $target:destination" in g.expressions["move"]
    assert g.slots["direction"] == ["up", "down"]
    assert g.slots["target"][:5] == ["this", "that", "here", "there", "it"] and "lamp" in g.slots["target"]
    assert {"select", "scroll", "volume", "glasses"} <= g.vocabulary()
    ctx = g.to_rhino_context()["context"]
    assert set(ctx) >= {"expressions", "slots"}
    # what we export parses back
    for exprs in ctx["expressions"].values():
        for e in exprs:
            parse_expression(e)


BASE = """
[spec]
name = "t"

[intents.select]
slots = { target = "target" }
[intents.select.trigger]
any = [
  { speech = "select $target:target" },
  { hand = "pinch_tap" },
]
"""


def _err(text, **kw) -> SpecError:
    with pytest.raises(SpecError) as ei:
        loads_spec(text, name="/tmp/bad_spec.toml", **kw)
    return ei.value


def _line_of(text, needle):
    return next(i + 1 for i, ln in enumerate(text.splitlines()) if needle in ln)


@pytest.mark.parametrize(
    "old, new, needle, key, words",
    [
        (
            '{ hand = "pinch_tap" }',
            '{ hand = "pinchh" }',
            "pinchh",
            "intents.select.trigger.any[1].hand",
            "unknown hand gesture 'pinchh'",
        ),
        (
            '"select $target:target"',
            '"select [this, that"',
            "select [this",
            "intents.select.trigger.any[0].speech",
            "bad speech expression",
        ),
        (
            'slots = { target = "target" }',
            'slots = { target = "colour" }',
            "colour",
            "intents.select.slots.target",
            "unknown slot type 'colour'",
        ),
        (
            '{ hand = "pinch_tap" },',
            '{ all = [{ hand = "fist" }, { wrist = "tap" }] },',
            "all =",
            "intents.select.trigger.any[1]",
            "needs 'within_ms'",
        ),
        (
            '{ hand = "pinch_tap" },',
            '{ context = "gaze_on(target)" },',
            "gaze_on",
            "intents.select.trigger.any[1]",
            "alone never fires",
        ),
        (
            "[intents.select]",
            "[intents.select]\npriorty = 3",
            "priorty",
            "intents.select.priorty",
            "unknown key 'priorty'",
        ),
        (
            '{ hand = "pinch_tap" }',
            '{ hand = "pinch_tap", min_confidence = 1.5 }',
            "1.5",
            "intents.select.trigger.any[1].min_confidence",
            "confidence must be in [0, 1]",
        ),
    ],
)
def test_errors_name_file_line_and_key(old, new, needle, key, words):
    text = BASE.replace(old, new)
    assert text != BASE
    e = _err(text)
    assert e.file == "/tmp/bad_spec.toml"
    assert e.key == key
    assert e.line == _line_of(text, needle)
    assert words in e.message
    assert str(e).startswith(f"/tmp/bad_spec.toml:{e.line}: {key}: ")


def test_toml_syntax_error_names_line():
    text = BASE + '\n[intents.next]\ntrigger = { any = ["hand:swipe_left" }\n'
    e = _err(text)
    assert e.line == len(text.splitlines())
    assert "TOML syntax" in e.message


def test_missing_trigger_and_empty_spec():
    assert "missing required key 'trigger'" in str(_err("[intents.x]\nslots = {}\n"))
    assert "no intents" in str(_err('[spec]\nname = "x"\n'))


def test_custom_gestures_must_be_declared():
    text = BASE.replace('{ hand = "pinch_tap" }', '{ wrist = "circle" }')
    assert "unknown wrist gesture 'circle'" in str(_err(text))
    spec = loads_spec('[gestures]\nwrist = ["circle"]\n' + text)
    assert spec.intents["select"].leaves()[1].kinds == frozenset({"circle"})


def test_toml_line_of_finds_dotted_and_array_keys():
    text = "a = 1\n[x.y]\nb = [\n  1,\n  2,\n]\n[[z]]\nq = 1\n[[z]]\nq = 2\n"
    assert toml_line_of(text, ["x", "y", "b"]) == 3
    assert toml_line_of(text, ["x", "y", "b", 1]) == 5
    assert toml_line_of(text, ["z", 1, "q"]) == 10


def test_every_shipped_spec_loads(shared):
    shared("data", "speech", "barista", "coffee_maker.yaml")
    for p in sorted(SPECS_DIR.glob("*.toml")):
        spec = load_spec(p)
        assert spec.intents, p


def test_rhino_import_accepts_every_coffee_expression(shared):
    yml = shared("data", "speech", "barista", "coffee_maker.yaml")
    ctx = load_rhino_context(yml)
    raw = re.findall(r'^\s*- "(.*)"\s*$', yml.read_text(), flags=re.MULTILINE)
    n_expr = sum(len(v) for v in ctx.expressions.values())
    assert n_expr == 80 and list(ctx.expressions) == ["orderDrink"]
    assert n_expr + sum(len(v.values) for v in ctx.slot_types.values()) == len(raw)
    spec = load_spec("coffee")
    leaf = spec.intents["orderDrink"].leaves()[0]
    assert len(leaf.expressions) == 80
    provider = spec.slot_values()
    # every phrasing of every expression, with the first value of each slot, parses back to its slots
    for e in leaf.expressions:
        for phr in expand(e, lambda s: spec.slot_types[s.type].values[-1]):
            m = match_tokens(e, tokenize(phr), provider)
            assert m is not None, phr
            assert {k: v.value for k, v in m.slots.items()} == {
                s.name: spec.slot_types[s.type].values[-1] for s in e.slots()
            }


def test_rhino_labels_use_only_imported_slot_values(shared):
    import json

    labels = json.loads(shared("data", "speech", "barista", "label.json").read_text())
    spec = load_spec("coffee")
    norm = {k: {" ".join(tokenize(v)) for v in st.values} for k, st in spec.slot_types.items()}
    n = 0
    for item in labels.values():
        assert item["intent"] == "orderDrink"
        for k, v in item.get("slots", {}).items():
            assert " ".join(tokenize(v)) in norm[k], (k, v)  # labels carry stray spaces
            n += 1
    assert n > 300


def test_rhino_import_is_relative_to_a_configurable_base(tmp_path, shared):
    src = shared("data", "speech", "barista", "coffee_maker.yaml")
    spec_text = (SPECS_DIR / "coffee.toml").read_text()
    spec = loads_spec(spec_text, name=str(tmp_path / "c.toml"), options=SpecOptions(bases={"shared": src.parents[3]}))
    assert spec.imports == [str(src)]
    e = _err(spec_text, options=SpecOptions(bases={"shared": tmp_path}))
    assert e.key == "speech.rhino.path" and "not found" in e.message
    assert e.line == _line_of(spec_text, "rhino =")
    # never copied into the repository
    repo = Path(__file__).resolve().parents[2]
    assert not [p for p in repo.rglob("coffee_maker.yaml") if ".venv" not in p.parts]


def test_rhino_errors_name_yaml_line_and_key(tmp_path):
    p = tmp_path / "ctx.yaml"
    p.write_text(
        'context:\n  expressions:\n    order:\n      - "get me $drink:drink"\n'
        '      - "get me $size:size"\n  slots:\n    drink:\n      - latte\n'
    )
    with pytest.raises(SpecError) as ei:
        load_rhino_context(p)
    assert ei.value.line == 5 and ei.value.key == "context.expressions.order[1]"
    assert "undefined slot type 'size'" in ei.value.message


def test_speech_grammar_compiles_with_the_speech_recogniser():
    # the contract with perception/speech: its grammar compiler takes our export as it is
    context_mod = pytest.importorskip("perception.speech.context")
    grammar_mod = pytest.importorskip("perception.speech.grammar")
    spec = load_spec("default_ar")
    scene = Scene([Target("cup", "coffee cup", (0, 0, 1, 1))])
    g = grammar_mod.compile_grammar(context_mod.Context.from_spec(speech_grammar(spec, scene)))
    p = g.parse(["move", "that", "there"])
    assert p.intent == "move" and p.slots == {"object": "that", "destination": "there"}
    assert g.parse(["select", "the", "coffee", "cup"]).slots == {"target": "coffee cup"}
    assert spec.parse_text("select the coffee cup", scene) == ("select", {"target": "cup"})


def test_line_finder_on_the_shipped_spec():
    text = (SPECS_DIR / "default_ar.toml").read_text()
    lines = text.splitlines()
    spec = load_spec("default_ar")
    for name in spec.intents:
        assert lines[toml_line_of(text, ["intents", name]) - 1].startswith(f"[intents.{name}")
    assert "swipe_down" in lines[toml_line_of(text, ["intents", "scroll", "trigger", "any", 2]) - 1]
    assert "lateness" not in lines[toml_line_of(text, ["lateness_ms", "speech"]) - 1]
    assert lines[toml_line_of(text, ["lateness_ms", "speech"]) - 1].startswith("speech = 1500")


def test_mutated_specs_fail_only_with_spec_errors():
    # every damaged spec either loads or raises SpecError with a message: never another exception
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    text = (SPECS_DIR / "default_ar.toml").read_text()
    lines = text.splitlines()
    tokens = [
        '"',
        "[",
        "]",
        "{",
        "}",
        ",",
        "=",
        "1.5",
        "-3",
        "true",
        '"x"',
        "[]",
        "{}",
        "any",
        "all",
        "within_ms",
        "hand",
        "speech",
        "wrist",
        "context",
        "slots",
        "$",
        "(",
        ")",
        "gaze_on(",
        "\n",
    ]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, len(lines) - 1), st.integers(0, 200), st.sampled_from(tokens), st.booleans())
    def check(i, col, tok, delete):
        ls = list(lines)
        if delete:
            del ls[i]
        else:
            c = min(col, len(ls[i]))
            ls[i] = ls[i][:c] + tok + ls[i][c:]
        try:
            loads_spec("\n".join(ls), name="mut.toml")
        except SpecError as e:
            assert e.message and str(e).startswith("mut.toml")

    check()


def test_the_documented_spec_example_loads():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "fusion.md").read_text()
    block = re.search(r"```toml\n(\[spec\].*?)```", doc, flags=re.DOTALL).group(1)
    spec = loads_spec(block, name="docs/fusion.md")
    assert spec.intents["scroll"].slots == {"direction": "direction"}
    assert spec.slot_types["colour"].values == ["red", "dark green"]
    assert spec.lateness_ms["wrist"] == 300 and spec.deixis.after_ms == 300
