"""`cuekit spec check FILE...`: load and validate intent specs without starting anything.

Prints `OK file: N intents` per good spec, or the spec's `file:line: key: message` errors, and exits 2
when any spec is bad. Beyond what `load_spec` checks (structure, gestures, slots, macro cycles, the size of
the speech grammar), it looks up every speech word in the recogniser's pronunciation dictionary, since a
word missing there makes the speech stage refuse to start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fusion.spec import Spec, SpecError, load_spec, toml_line_of
from fusion.spec_locate import path_of
from perception.speech.expressions import words_of


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cuekit spec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="validate spec files; file:line errors, exit 2 on any")
    c.add_argument("files", nargs="+", type=Path, help="spec TOML files (or names under assets/specs)")
    c.add_argument(
        "--no-dictionary", action="store_true", help="skip the pronunciation-dictionary check of speech words"
    )
    return p


def dictionary_words() -> set[str] | None:
    """The words of PocketSphinx's default pronunciation dictionary, or None when it is not installed."""
    try:
        from perception.speech.pocketsphinx_backend import default_model_dir
    except ImportError:
        return None
    path = Path(default_model_dir()) / "cmudict-en-us.dict"
    if not path.is_file():
        return None
    words = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.split(" ", 1)[0]
            words.add(w.split("(", 1)[0])  # "read(2)": a second pronunciation of "read"
    return words


def unknown_words(spec: Spec, dictionary: set[str]) -> list[SpecError]:
    """One error per speech leaf that uses words the recogniser cannot pronounce."""
    text = Path(spec.path).read_text(encoding="utf-8") if Path(spec.path).is_file() else ""
    errors = []
    for it in spec.intents.values():
        for lf in it.leaves():
            words = set()
            for e in lf.expressions:
                words |= words_of(e)
            for m in {m for e in lf.expressions for m in e.macros()}:
                for e in spec.macros.get(m, []):
                    words |= words_of(e)
            missing = sorted(w for w in words if w not in dictionary)
            if missing:
                errors.append(
                    SpecError(
                        spec.path,
                        toml_line_of(text, path_of(lf.key)) if text else None,
                        lf.key,
                        f"words not in the pronunciation dictionary: {', '.join(missing)}",
                    )
                )
    values = {v for st in spec.slot_types.values() for val in st.values for v in val.lower().split()}
    missing_values = sorted(w for w in values if w.isalpha() and w not in dictionary)
    if missing_values:
        errors.append(
            SpecError(
                spec.path,
                None,
                "slot_types",
                f"slot values not in the pronunciation dictionary: {', '.join(missing_values)}",
            )
        )
    return errors


def check(files: list[Path], use_dictionary: bool = True) -> int:
    dictionary = dictionary_words() if use_dictionary else None
    bad = 0
    for f in files:
        try:
            spec = load_spec(f)
        except SpecError as exc:
            print(exc)
            bad += 1
            continue
        errors = unknown_words(spec, dictionary) if dictionary is not None else []
        for e in errors:
            print(e)
        if errors:
            bad += 1
            continue
        n_speech = sum(1 for it in spec.intents.values() for lf in it.leaves() if lf.modality == "speech")
        print(
            f"OK {spec.path}: {len(spec.intents)} intents, {n_speech} speech triggers"
            + ("" if dictionary is not None else " (pronunciation dictionary not checked)")
        )
    return 2 if bad else 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return check(args.files, not args.no_dictionary)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
