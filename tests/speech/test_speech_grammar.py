"""Context parsing, grammar compilation (factorised, exact language) and the text parser."""

from __future__ import annotations

import numpy as np
import pocketsphinx as ps
import pytest

from perception.speech.context import Context, ExpressionError, expand_expression
from perception.speech.grammar import compile_grammar, verify_grammar


def test_expand_choices_optionals_slots_macros():
    got = expand_expression("turn [the, a] (big) light [on, off]")
    assert len(got) == 8
    assert ("turn", "the", "big", "light", "on") in got and ("turn", "a", "light", "off") in got
    assert expand_expression("[capture, snap] (a) (photo, picture)").__len__() == 12
    assert expand_expression("@verb $dev:device", {"verb": ["switch on", "start"]}) == [
        ("start", "$dev:device"),
        ("switch", "on", "$dev:device"),
    ]
    assert expand_expression("I'd like") == [("i'd", "like")]


@pytest.mark.parametrize(
    "bad, msg",
    [("turn [on, off", "unclosed"), ("turn on]", "unexpected"), ("(a b", "unclosed"), ("@nope x", "macro @nope")],
)
def test_bad_expressions_name_the_problem(bad, msg):
    with pytest.raises(ExpressionError, match=msg):
        expand_expression(bad)


def test_unknown_slot_type_is_reported():
    with pytest.raises(ExpressionError, match="slot type 'colour'"):
        Context(expressions={"paint": ["paint it $colour:c"]}, slots={"size": ["big"]})


def test_barista_grammar_is_factorised_and_exact(barista_context, barista_grammar):
    g = barista_grammar
    assert len(barista_context.expressions["orderDrink"]) == 80
    # 80 expressions x 9 prefixes x [a, an] = 1440 token sequences, all in one small DFA
    assert len(barista_context.token_sequences()) == 1440
    assert len(g.token_dfa.arcs) <= 30
    assert g.n_states < 400 and len(g.arcs) < 1000
    v = verify_grammar(g, n_samples=300)
    assert v.ok, v
    assert v.token_sequences == 1440 and not v.missing and not v.extra


def test_fsg_and_jsgf_accept_the_same_sentences(barista_context, barista_grammar):
    d = ps.Decoder(lm=None, loglevel="FATAL")
    fsg_jsgf = d.parse_jsgf(barista_grammar.to_jsgf())
    fsg = d.create_fsg("g", 0, barista_grammar.final, barista_grammar.fsg_transitions())
    rng = np.random.default_rng(3)
    for _ in range(100):
        _, text, _ = barista_context.sample_sentence(rng)
        assert fsg.accept(text) and fsg_jsgf.accept(text), text
    for bad in ["can i get a latte with", "brew a large", "latte", "can i get a large latte please"]:
        assert not fsg.accept(bad) and not fsg_jsgf.accept(bad), bad


def test_grammar_from_the_intent_spec():
    spec = {
        "context": {
            "expressions": {"lights": ["turn [on, off] the $room:room (lights)"], "stop": ["[stop, halt]"]},
            "slots": {"room": ["kitchen", "living room"]},
        }
    }
    g = compile_grammar(Context.from_rhino_dict(spec))
    assert verify_grammar(g, 200).ok
    r = g.parse(["turn", "off", "the", "living", "room", "lights"])
    assert (r.intent, r.slots, r.edits) == ("lights", {"room": "living room"}, 0)
    assert g.parse(["halt"]).intent == "stop"


def test_parser_slots_longest_values_and_ambiguity(barista_grammar):
    g = barista_grammar
    r = g.parse(
        ["can", "i", "get", "a", "large", "latte", "with", "a", "lot", "of", "soy", "milk", "and", "some", "sugar"]
    )
    assert r.edits == 0 and r.intent == "orderDrink"
    assert r.slots == {
        "size": "large",
        "coffeeDrink": "latte",
        "milkAmount": "a lot of soy milk",
        "sugarAmount": "some sugar",
    }
    # "medium" (size) then "medium roast" (roast); "iced coffee" not "coffee"
    r = g.parse(["i'd", "like", "a", "medium", "medium", "roast", "iced", "coffee"])
    assert r.slots == {"size": "medium", "roast": "medium roast", "coffeeDrink": "iced coffee"}
    assert r.word_slot[3:] == ["size", "roast", "roast", "coffeeDrink", "coffeeDrink"]


def test_parser_near_misses_for_open_vocabulary_backends(barista_grammar):
    r = barista_grammar.parse(["uh", "can", "i", "get", "a", "large", "latte", "please"])
    assert r.edits == 2 and r.slots == {"size": "large", "coffeeDrink": "latte"}
    r = barista_grammar.parse(["what", "is", "the", "weather", "like"])
    assert r.edits >= 4
