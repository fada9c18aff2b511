import pytest

from perception.speech.expressions import (
    ExpressionError,
    Slot,
    expand,
    match_tokens,
    parse_expression,
    tokenize,
)


def values(table):
    def provider(t):
        return [(tuple(tokenize(v)), v) for v in sorted(table.get(t, []), key=lambda v: -len(v.split()))]

    return provider


def test_tokenize_keeps_inner_apostrophes_and_drops_punctuation():
    assert tokenize("I'd like THAT, please!") == ["i'd", "like", "that", "please"]
    assert tokenize("I\u2019d") == ["i'd"]


def test_parse_groups_optionals_and_slots():
    e = parse_expression("[move, put] $target:object (over) [to, onto] $target:destination")
    assert e.slots() == [Slot("target", "object"), Slot("target", "destination")]
    phrasings = expand(e)
    assert "move $target:object over to $target:destination" in phrasings
    assert "put $target:object onto $target:destination" in phrasings
    assert len(phrasings) == 2 * 2 * 2


@pytest.mark.parametrize(
    "text, col",
    [("select [this, that", 8), ("select )", 8), ("open $target", 6), ("a [b, ] c", 3), ("", 1), ("a, b", 2)],
)
def test_parse_errors_name_the_column(text, col):
    with pytest.raises(ExpressionError) as ei:
        parse_expression(text)
    assert f"column {col}" in str(ei.value)


def test_match_binds_multiword_slot_values_with_token_spans():
    e = parse_expression("[can I have, I want] [a, an] $size:size $drink:drink (with $milk:milk)")
    prov = values({"size": ["large"], "drink": ["latte", "iced mocha"], "milk": ["milk", "a bit of soy milk"]})
    m = match_tokens(e, tokenize("can I have a large iced mocha with a bit of soy milk"), prov)
    assert m is not None
    assert {k: v.value for k, v in m.slots.items()} == {
        "size": "large",
        "drink": "iced mocha",
        "milk": "a bit of soy milk",
    }
    assert (m.slots["drink"].first_token, m.slots["drink"].last_token) == (5, 6)
    assert match_tokens(e, tokenize("I want an large latte"), prov) is not None
    assert match_tokens(e, tokenize("I want a large"), prov) is None
    assert match_tokens(e, tokenize("I want a large latte please"), prov) is None


def test_match_backtracks_over_optional_words():
    e = parse_expression("(please) open (the) $t:t")
    prov = values({"t": ["the door", "door"]})
    m = match_tokens(e, tokenize("open the door"), prov)
    assert m is not None and m.slots["t"].value in ("the door", "door")
