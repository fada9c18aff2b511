"""`cuekit`: one console script; each subcommand lives in the module that owns its concern.

Subcommands are imported only when used, so `cuekit replay` does not load Qt and a broken
optional part cannot break the others. Every target module exposes `main(argv: list[str]) -> int`
and builds its own argparse parser; every `eval` and `bench` target takes `--json` and then prints
exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("app.demo", "open the demo (GUI; headless with --headless) on live devices or the bundled session"),
    "serve": ("app.daemon.cli", "run the headless intent daemon"),
    "record": ("app.recording.cli", "record sources to an MCAP file"),
    "replay": ("app.recording.replay_cli", "replay an MCAP recording through the pipeline"),
    "models": ("perception.models.cli", "build, verify and list the ONNX models"),
    "plugins": ("app.plugins.cli", "list installed plugins and why any failed to load"),
    "spec": ("app.spec_cli", "check intent spec files (file:line errors) without starting anything"),
    "fuzz": ("app.fuzz.cli", "fuzz one parser (or all) for N seconds: inputs tried, crashes, peak RSS"),
    "enroll": ("app.enrollment", "enroll custom wrist or hand gestures (recordings or live) for every pipeline"),
}

# `cuekit eval TARGET` / `cuekit bench TARGET`: the module that owns each measurement
EVAL_TARGETS: dict[str, str] = {
    "hands": "perception.hands.evaluate",
    "speech": "perception.speech.evaluate",
    "commands": "perception.speech.commands_eval",
    "wake": "perception.speech.wake_eval",
    "imu": "perception.wrist.evaluate",
    "fusion": "fusion.evaluate",
    "session": "app.session_eval",
}
BENCH_TARGETS: dict[str, str] = {
    "kernels": "native.bench",
    "hands": "perception.hands.bench",
    "speech": "perception.speech.bench",
    "pipeline": "perception.stream.bench",
    "wrist": "perception.wrist.bench",
    "daemon": "app.daemon.bench",
}


def _usage() -> str:
    lines = ["usage: cuekit COMMAND [ARGS]", "", "commands:"]
    for name, (_, desc) in COMMANDS.items():
        lines.append(f"  {name:<9} {desc}")
    lines.append(f"  {'bench':<9} benchmarks with ratios against a baseline: {', '.join(BENCH_TARGETS)}")
    lines.append(f"  {'eval':<9} accuracy evaluations: {', '.join(EVAL_TARGETS)}")
    lines.append("")
    lines.append("`cuekit COMMAND --help` for a command's options.")
    return "\n".join(lines)


def _load(module_name: str, what: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        from app.extras import message_for

        hint = message_for(exc)
        if hint is not None:
            print(f"cuekit: {what} needs an optional part: {hint}", file=sys.stderr)
            return None
        if exc.name and module_name.startswith(exc.name):
            print(f"cuekit: {what} is not available in this build ({module_name} is missing)", file=sys.stderr)
            return None
        raise


def _argparse_error(self: argparse.ArgumentParser, message: str) -> None:
    # argparse prints the whole usage block before the error; one line naming the problem is what a
    # person (or a script reading stderr) needs, and `--help` is one command away
    self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _input_problem(exc: BaseException) -> str | None:
    """The one-line message for an error caused by what the user gave (a file, an argument), else None."""
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        if isinstance(exc, IsADirectoryError):
            what = "is a directory, expected a file"
        return f"{exc.filename}: {what}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, ValueError | LookupError | EOFError):  # bad values in files/arguments, SpecError...
        return str(exc) or type(exc).__name__
    return None


def run_guarded(prog: str, fn, argv: list[str]) -> int:
    """Run a command's main: user errors become one line and exit 2, other failures one line and exit 1,
    never a traceback (CUEKIT_DEBUG=1 re-raises to see one)."""
    try:
        return int(fn(argv) or 0)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # argparse, or a command that exits by itself
        if isinstance(exc.code, str):  # sys.exit("message"): the message is the one line
            print(exc.code, file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:
        if os.environ.get("CUEKIT_DEBUG"):
            raise
        problem = _input_problem(exc)
        if problem is not None:
            print(f"{prog}: {problem.splitlines()[0]}", file=sys.stderr)
            return 2
        print(f"{prog}: failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


def _dispatch_target(kind: str, targets: dict[str, str], argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: cuekit {kind} TARGET [--json] [ARGS]\n\ntargets: {', '.join(targets)}")
        return 0 if argv else 2
    target = argv[0]
    if target not in targets:
        print(f"cuekit {kind}: unknown target {target!r}; choose from {', '.join(targets)}", file=sys.stderr)
        return 2
    mod = _load(targets[target], f"'{kind} {target}'")
    return 2 if mod is None else run_guarded(f"cuekit {kind} {target}", mod.main, argv[1:])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argparse.ArgumentParser.error = _argparse_error  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "eval":
        return _dispatch_target("eval", EVAL_TARGETS, rest)
    if cmd == "bench":
        return _dispatch_target("bench", BENCH_TARGETS, rest)
    if cmd not in COMMANDS:
        print(
            f"cuekit: unknown command {cmd!r}; choose from {', '.join([*COMMANDS, 'bench', 'eval'])}", file=sys.stderr
        )
        return 2
    mod = _load(COMMANDS[cmd][0], f"'{cmd}'")
    return 2 if mod is None else run_guarded(f"cuekit {cmd}", mod.main, rest)


if __name__ == "__main__":
    sys.exit(main())
