"""Items 1, 3, 7, 8 of issue #18 on the spec side: every bad spec is a SpecError naming file:line."""

from __future__ import annotations

import pytest
from bombs import grammar_bomb_spec, macro_cycle_spec
from hostile_helpers import run_cli

from fusion.engine import FusionEngine
from fusion.spec import SpecError, load_spec, loads_spec
from perception.stream import Observation


def test_macro_cycle_is_refused_at_load_with_its_line():
    with pytest.raises(SpecError) as e:
        loads_spec(macro_cycle_spec(), "cycle.toml")
    assert str(e.value).startswith("cycle.toml:2: macros.a: ") and "@a -> @b -> @a" in str(e.value)
    with pytest.raises(SpecError, match="@a -> @a"):
        loads_spec('[macros]\na = ["x @a"]\n[intents.g]\ntrigger = "speech:@a"\n', "self.toml")


def test_macro_cycle_in_a_rhino_context_is_refused(tmp_path):
    y = tmp_path / "ctx.yaml"
    y.write_text('context:\n  expressions:\n    go:\n      - "@a"\n  macros:\n    a: ["x @b"]\n    b: ["y @a"]\n')
    (tmp_path / "s.toml").write_text('[speech]\nrhino = "ctx.yaml"\n')
    with pytest.raises(SpecError, match=r"ctx\.yaml:\d+: context\.macros\.\w: macros refer to each other"):
        load_spec(tmp_path / "s.toml")


def test_an_acyclic_macro_spec_still_fuses():
    """What the cycle made impossible (RecursionError on every item) works when the macros are sound."""
    spec = loads_spec('[macros]\na = ["hello @b"]\nb = ["hi", "hey"]\n[intents.greet]\ntrigger = "speech:@a there"\n')
    eng = FusionEngine(spec)
    obs = Observation("speech", "utterance", 0.9, 1_000_000_000, 1_200_000_000, payload={"text": "hello hey there"})
    out = eng.push(obs) + eng.advance(5_000_000_000)
    assert [i.name for i in out] == ["greet"]


def test_grammar_bomb_is_a_spec_error():
    with pytest.raises(SpecError, match=r"bomb\.toml:2: intents\.go\.trigger: .*more than 50,000 phrasings"):
        loads_spec(grammar_bomb_spec(), "bomb.toml")
    # the shipped specs are far below the limit
    for name in ("default_ar", "coffee", "conflicts_demo"):
        load_spec(name)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("[defaults]\nrefractory_ms = inf\n", 2, "duration"),
        ("[defaults]\nhold_ms = nan\n", 2, "duration"),
        ("[defaults]\nmin_confidence = nan\n", 2, "confidence"),
        ('[intents.g.trigger]\nall = ["hand:pinch", "speech:go"]\nwithin = "' + "9" * 400 + 's"\n', 3, "duration"),
        ("x = " + "[" * 3000 + "]" * 3000 + "\n", 1, "nest too deeply"),
    ],
)
def test_numbers_and_nesting_become_spec_errors_with_a_line(text, line, what):
    with pytest.raises(SpecError) as e:
        loads_spec(text + '[intents.h]\ntrigger = "hand:pinch"\n', "bad.toml")
    assert str(e.value).startswith(f"bad.toml:{line}:") and what in str(e.value)


def test_latin1_spec_is_a_spec_error_naming_the_line(tmp_path):
    p = tmp_path / "latin.toml"
    p.write_bytes('[spec]\n# ok\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin\.toml:3: not UTF-8 text \(byte 0xe9"):
        load_spec(p)


def test_spec_check_prints_file_line_and_exits_2(tmp_path):
    bad = tmp_path / "cycle.toml"
    bad.write_text(macro_cycle_spec())
    words = tmp_path / "words.toml"
    words.write_text('[intents.open]\ntrigger = "speech:open the cuekitzz"\n')
    r = run_cli("spec", "check", str(bad), str(words), "default_ar")
    assert r.returncode == 2
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith(f"{bad}:2: macros.a: macros refer to each other")
    assert lines[1].startswith(f"{words}:2: intents.open.trigger: words not in the pronunciation dictionary: cuekitzz")
    assert lines[2].startswith("OK ") and "default_ar.toml" in lines[2]
    assert "Traceback" not in r.stderr
    assert run_cli("spec", "check", "default_ar").returncode == 0


def test_demo_with_a_bad_spec_prints_one_line(tmp_path):
    bad = tmp_path / "cycle.toml"
    bad.write_text(macro_cycle_spec())
    r = run_cli("demo", "--headless", "--no-live", "--fast", "--spec", str(bad))
    assert r.returncode == 2
    want = f"cuekit demo: {bad}:2: macros.a: macros refer to each other in a cycle: @a -> @b -> @a"
    assert r.stderr.strip().splitlines() == [want]
