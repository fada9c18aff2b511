"""Plugins that ship with CueKit, by group and name -> "module:attr" (imported only when used).

A target is a plugin class, a PluginSpec, or a zero-argument function returning one of those.
The functions below adapt the project's stages, whose constructors take an Options dataclass, to
the plugin contract (`config` dict -> stage, a config schema, a validate step for devices).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

from app.plugins.base import PluginSpec, Validation
from perception.stream.types import STREAM_TYPES

BUILTINS: dict[tuple[str, str], str] = {
    ("cuekit.sources", "microphone"): "app.plugins.builtins:microphone",
    ("cuekit.sources", "wav"): "app.plugins.builtins:wav",
    ("cuekit.sources", "camera"): "app.plugins.builtins:camera",
    ("cuekit.sources", "video_file"): "app.plugins.builtins:video_file",
    ("cuekit.sources", "imu_serial"): "app.plugins.builtins:imu_serial",
    ("cuekit.sources", "imu_udp"): "app.plugins.builtins:imu_udp",
    ("cuekit.sources", "imu_synthetic"): "app.plugins.builtins:imu_synthetic",
    ("cuekit.sources", "replay"): "app.plugins.builtins:replay",
    ("cuekit.recognizers", "wrist"): "app.plugins.builtins:wrist",
    ("cuekit.recognizers", "hands"): "app.plugins.builtins:hands",
    ("cuekit.recognizers", "hand_skeleton"): "app.plugins.builtins:hand_skeleton",
    ("cuekit.recognizers", "speech"): "app.plugins.builtins:speech",
    ("cuekit.recognizers", "fusion"): "app.plugins.builtins:fusion",
    ("cuekit.sinks", "jsonl"): "app.sinks.jsonl:JsonLinesSink",
    ("cuekit.sinks", "osc"): "app.sinks.osc:OscSink",
    ("cuekit.sinks", "recorder"): "app.plugins.builtins:recorder",
    ("cuekit.sinks", "foxglove"): "app.sinks.foxglove_live:FoxgloveLiveSink",
}


def options_from(cls: type, config: dict[str, Any], where: str) -> Any:
    """Build an Options dataclass from a config table; nested tables fill nested dataclasses."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(config) - names
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {sorted(unknown)}; known: {sorted(names)}")
    kw = {}
    for k, v in config.items():
        t = hints.get(k)
        if isinstance(v, dict) and isinstance(t, type) and dataclasses.is_dataclass(t):
            v = options_from(t, v, f"{where}.{k}")
        elif isinstance(v, list) and isinstance(getattr(cls, k, None), tuple):
            v = tuple(v)
        kw[k] = v
    return cls(**kw)


def _options_schema(cls: type, extra: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict:
    props: dict[str, Any] = {f.name: {} for f in dataclasses.fields(cls)}
    props.update(extra or {})
    return {"type": "object", "properties": props, "additionalProperties": False, "required": list(required)}


def _split(config: dict[str, Any], keys: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    own = {k: config[k] for k in keys if k in config}
    rest = {k: v for k, v in config.items() if k not in keys}
    return own, rest


# sources ------------------------------------------------------------------------------------------
def microphone() -> PluginSpec:
    from perception.sources.audio import AudioSourceOptions, MicrophoneSource, list_microphones
    from perception.stream import AudioChunk

    def validate(config: dict[str, Any]) -> Validation:
        try:
            mics = list_microphones()
        except Exception as exc:  # noqa: BLE001 - PortAudio missing or broken: decline, do not crash
            return Validation.decline(f"cannot list microphones: {exc}")
        return Validation(True) if mics else Validation.decline("no microphone found")

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("device", "block_ms"))
        return MicrophoneSource(
            own.get("device"),
            options_from(AudioSourceOptions, rest, "microphone"),
            name=name or "microphone",
            **({"block_ms": own["block_ms"]} if "block_ms" in own else {}),
        )

    return PluginSpec(
        "microphone",
        "cuekit.sources",
        create,
        produces=(AudioChunk,),
        validate=validate,
        config_schema=_options_schema(
            AudioSourceOptions, {"device": {"type": ["integer", "string"]}, "block_ms": {"type": "number"}}
        ),
        description="live microphone (sounddevice), 16 kHz mono chunks",
    )


def wav() -> PluginSpec:
    from perception.sources.audio import AudioSourceOptions, WavFileSource
    from perception.stream import AudioChunk

    def validate(config: dict[str, Any]) -> Validation:
        return (
            Validation(True)
            if Path(config["path"]).is_file()
            else Validation.decline(f"{config['path']} does not exist")
        )

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("path",))
        return WavFileSource(own["path"], options_from(AudioSourceOptions, rest, "wav"), name=name or "wav")

    return PluginSpec(
        "wav",
        "cuekit.sources",
        create,
        produces=(AudioChunk,),
        validate=validate,
        config_schema=_options_schema(AudioSourceOptions, {"path": {"type": "string"}}, ("path",)),
        description="a WAV file played on the pipeline clock",
    )


def _video_options_schema(extra: dict[str, Any], required: tuple[str, ...] = ()) -> dict:
    from perception.sources.video import VideoSourceOptions

    return _options_schema(VideoSourceOptions, extra, required)


def camera() -> PluginSpec:
    from perception.sources.video import CameraSource, VideoSourceOptions, list_cameras
    from perception.stream import VideoFrame

    def validate(config: dict[str, Any]) -> Validation:
        dev = config.get("device", 0)
        if isinstance(dev, int):
            cams = list_cameras()
            if dev not in {c.index for c in cams}:
                have = ", ".join(str(c) for c in cams) or "none"
                return Validation.decline(f"camera {dev} not found (cameras: {have})")
        return Validation(True)

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("device",))
        return CameraSource(
            own.get("device", 0), options_from(VideoSourceOptions, rest, "camera"), name=name or "camera"
        )

    return PluginSpec(
        "camera",
        "cuekit.sources",
        create,
        produces=(VideoFrame,),
        validate=validate,
        config_schema=_video_options_schema({"device": {"type": ["integer", "string"]}}),
        description="live camera (OpenCV)",
    )


def video_file() -> PluginSpec:
    from perception.sources.video import VideoFileSource, VideoSourceOptions
    from perception.stream import VideoFrame

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("path",))
        return VideoFileSource(own["path"], options_from(VideoSourceOptions, rest, "video_file"), name=name or "video")

    return PluginSpec(
        "video_file",
        "cuekit.sources",
        create,
        produces=(VideoFrame,),
        validate=lambda c: (
            Validation(True) if Path(c["path"]).is_file() else Validation.decline(f"{c['path']} does not exist")
        ),
        config_schema=_video_options_schema({"path": {"type": "string"}}, ("path",)),
        description="a video file played on the pipeline clock",
    )


def imu_serial() -> PluginSpec:
    from perception.sources.imu import ImuSerialSource, ImuSourceOptions
    from perception.stream import ImuBatch

    def validate(config: dict[str, Any]) -> Validation:
        port = config["port"]
        if port.startswith("/dev/") and not os.path.exists(port):
            return Validation.decline(f"IMU not connected: {port} does not exist")
        return Validation(True)

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("port", "baudrate"))
        return ImuSerialSource(
            own["port"],
            own.get("baudrate", 115200),
            options_from(ImuSourceOptions, rest, "imu_serial"),
            name=name or "imu_serial",
        )

    from perception.sources.imu import ImuSourceOptions as _O

    return PluginSpec(
        "imu_serial",
        "cuekit.sources",
        create,
        produces=(ImuBatch,),
        validate=validate,
        config_schema=_options_schema(_O, {"port": {"type": "string"}, "baudrate": {"type": "integer"}}, ("port",)),
        description="wrist IMU CSV lines over a serial port",
    )


def _network_token(token_file: str | None) -> str | None:
    """The token a network source checks on a public bind: its own token_file, else CUEKIT_TOKEN."""
    if token_file:
        from app.daemon.config import read_token

        return read_token(Path(token_file))
    return os.environ.get("CUEKIT_TOKEN") or None


def imu_udp() -> PluginSpec:
    from perception.sources.imu import ImuSourceOptions, ImuUdpSource
    from perception.stream import ImuBatch

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("port", "host", "token_file"))
        return ImuUdpSource(
            own["port"],
            own.get("host", "127.0.0.1"),
            options_from(ImuSourceOptions, rest, "imu_udp"),
            name=name or "imu_udp",
            token=_network_token(own.get("token_file")),
        )

    return PluginSpec(
        "imu_udp",
        "cuekit.sources",
        create,
        produces=(ImuBatch,),
        config_schema=_options_schema(
            ImuSourceOptions,
            {"port": {"type": "integer"}, "host": {"type": "string"}, "token_file": {"type": "string"}},
            ("port",),
        ),
        description="wrist IMU CSV lines over UDP",
    )


def imu_synthetic() -> PluginSpec:
    from perception.sources.imu import SyntheticImuOptions, SyntheticImuSource
    from perception.stream import ImuBatch

    def create(config: dict[str, Any], name: str | None) -> Any:
        if "events" in config:
            raise ValueError("imu_synthetic: events are not configurable from TOML")
        return SyntheticImuSource(
            options_from(SyntheticImuOptions, config, "imu_synthetic"), name=name or "imu_synthetic"
        )

    return PluginSpec(
        "imu_synthetic",
        "cuekit.sources",
        create,
        produces=(ImuBatch,),
        config_schema=_options_schema(SyntheticImuOptions),
        description="a seeded wrist at rest (noise), for device-free runs",
    )


def replay() -> PluginSpec:
    from app.recording.mcap_reader import McapReplaySource, ReplayOptions

    # recorded intents are not replayed: fusion derives them again from what is replayed
    kinds = STREAM_TYPES[:-1]

    def create(config: dict[str, Any], name: str | None) -> Any:
        return McapReplaySource(
            config["path"], ReplayOptions(topics=config.get("topics"), kinds=list(kinds)), name=name or "replay"
        )

    return PluginSpec(
        "replay",
        "cuekit.sources",
        create,
        produces=kinds,
        validate=lambda c: (
            Validation(True)
            if Path(c["path"]).is_file()
            else Validation.decline(f"recording {c['path']} does not exist")
        ),
        config_schema={
            "type": "object",
            "required": ["path"],
            "additionalProperties": False,
            "properties": {"path": {"type": "string"}, "topics": {"type": "array", "items": {"type": "string"}}},
        },
        description="an MCAP recording replayed with its recorded times (needs --replay's clock)",
    )


def recorder() -> PluginSpec:
    from app.recording.mcap_writer import McapRecorder, RecorderOptions

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("path",))
        return McapRecorder(own["path"], options_from(RecorderOptions, rest, "recorder"), name=name or "recorder")

    return PluginSpec(
        "recorder",
        "cuekit.sinks",
        create,
        consumes=STREAM_TYPES,
        config_schema=_options_schema(RecorderOptions, {"path": {"type": "string"}}, ("path",)),
        description="records every stream, observation and intent to an MCAP file",
    )


# recognisers --------------------------------------------------------------------------------------
def wrist() -> PluginSpec:
    from perception.stream import ImuBatch, Observation
    from perception.wrist.recognizer import WristGestureRecognizer, WristOptions

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("load_enrolled",))
        opts = options_from(WristOptions, rest, "wrist")
        if own.get("load_enrolled", True) and opts.custom_path is None:
            from app.enrollment import enrolled_wrist  # what `cuekit enroll wrist` and the GUI saved

            found = enrolled_wrist()
            if found is not None and opts.model_path in (None, found[0]):
                opts.model_path, opts.custom_path = found
        return WristGestureRecognizer(opts, name=name)

    return PluginSpec(
        "wrist",
        "cuekit.recognizers",
        create,
        consumes=(ImuBatch,),
        produces=(Observation,),
        config_schema=_options_schema(WristOptions, {"load_enrolled": {"type": "boolean"}}),
        description="wrist gestures (tap, double tap, flicks, twist, raise, shake) from an IMU",
    )


def hands() -> PluginSpec:
    from perception.hands.stage import HandStage, HandStageOptions
    from perception.stream import HandLandmarks, Observation, VideoFrame

    def create(config: dict[str, Any], name: str | None) -> Any:
        from app.enrollment import enrolled_hand  # what `cuekit enroll hand` and the GUI saved

        opts = HandStageOptions(
            emit_landmarks=bool(config.get("emit_landmarks", True)),
            emit_gestures=bool(config.get("emit_gestures", True)),
        )
        opts.gestures.custom_gestures_path = enrolled_hand()
        return HandStage(opts, name=name)

    return PluginSpec(
        "hands",
        "cuekit.recognizers",
        create,
        consumes=(VideoFrame,),
        produces=(HandLandmarks, Observation),
        config_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {"emit_landmarks": {"type": "boolean"}, "emit_gestures": {"type": "boolean"}},
        },
        description="camera hand tracking (ONNX landmarker) and hand gestures",
    )


def hand_skeleton() -> PluginSpec:
    from perception.hands.gestures import HandGestureOptions
    from perception.hands.skeleton_stage import HandSkeletonStage
    from perception.stream import HandLandmarks, Observation

    def create(config: dict[str, Any], name: str | None) -> Any:
        own, rest = _split(config, ("lost_after_ms",))
        opts = options_from(HandGestureOptions, rest, "hand_skeleton")
        if opts.custom_gestures_path is None:
            from app.enrollment import enrolled_hand  # what `cuekit enroll hand` and the GUI saved

            opts.custom_gestures_path = enrolled_hand()
        return HandSkeletonStage(opts, name=name, **({"lost_after_ms": own["lost_after_ms"]} if own else {}))

    return PluginSpec(
        "hand_skeleton",
        "cuekit.recognizers",
        create,
        consumes=(HandLandmarks,),
        produces=(Observation,),
        config_schema=_options_schema(HandGestureOptions, {"lost_after_ms": {"type": "number"}}),
        description="hand gestures from already-tracked skeletons (a headset's own hand tracking)",
    )


def speech_grammar_source(ref: str | os.PathLike) -> Any:
    """A speech grammar reference from a config: a Rhino context YAML as it is; an intent spec (a name in
    assets/specs or a TOML path) as a function of the scene, so scene target names become slot values."""
    if Path(ref).suffix.lower() in (".yaml", ".yml"):
        return Path(ref)
    from fusion.spec import load_spec, speech_grammar

    spec = load_spec(ref)
    return lambda scene: speech_grammar(spec, scene)


def speech() -> PluginSpec:
    from perception.stream import AudioChunk, Observation

    def create(config: dict[str, Any], name: str | None) -> Any:
        from perception.speech.stage import SpeechStageOptions, speech_stage_from_spec

        own, rest = _split(config, ("context", "spec", "targets", "emit_rejected"))
        if rest:
            raise ValueError(f"speech: unknown option(s) {sorted(rest)}")
        if "context" in own and "spec" in own:
            raise ValueError("speech: give either 'context' (a Rhino YAML) or 'spec' (an intent spec), not both")
        opts = SpeechStageOptions(emit_rejected=own.get("emit_rejected", True))
        source = speech_grammar_source(own.get("context") or own.get("spec") or "default_ar")
        stage = speech_stage_from_spec(source, opts, name=name)
        if own.get("targets"):
            stage.update_scene(
                {"op": "replace", "targets": [t if isinstance(t, dict) else {"id": t} for t in own["targets"]]}
            )
        return stage

    def validate(config: dict[str, Any]) -> Validation:
        from app.extras import missing

        absent = missing("speech")
        if absent:
            return Validation.decline(f"speech recognition needs its extra: {absent}")
        ref = config.get("context") or config.get("spec")
        if ref and Path(ref).suffix and not Path(ref).is_file():
            return Validation.decline(f"speech grammar {ref} does not exist")
        return Validation(True)

    return PluginSpec(
        "speech",
        "cuekit.recognizers",
        create,
        consumes=(AudioChunk,),
        produces=(Observation,),
        validate=validate,
        config_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "context": {
                    "type": "string",
                    "description": "a Rhino-style context YAML, or an intent spec (name in assets/specs or TOML path)",
                },
                "spec": {
                    "type": "string",
                    "description": "an intent spec name or TOML path (default: the fusion stage's spec)",
                },
                "targets": {
                    "type": "array",
                    "items": {"type": ["string", "object"]},
                    "description": "scene targets (names or scene target objects): "
                    "the values of the grammar's target slots; scene updates add more",
                },
                "emit_rejected": {"type": "boolean"},
            },
        },
        description="spoken commands against the intent spec's grammar or a Rhino-style context",
    )


def fusion() -> PluginSpec:
    from fusion.spec import load_spec
    from fusion.stage import FusionStage, Tick, Ticker
    from perception.stream import IntentEvent, Observation

    def create(config: dict[str, Any], name: str | None) -> Any:
        spec = load_spec(config.get("spec", "default_ar"))
        stage = FusionStage(spec, name=name)
        # windows close as time passes: the stage needs a clock tick even when nothing is observed
        period = float(config.get("tick_ms", 10.0))
        ticker = Ticker(period, name=f"{stage.name}.ticker")
        stage.companion_sources = lambda: [ticker]  # type: ignore[method-assign]
        return stage

    return PluginSpec(
        "fusion",
        "cuekit.recognizers",
        create,
        consumes=(Observation, Tick),
        produces=(IntentEvent,),
        config_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "spec": {"type": "string", "description": "a spec name in assets/specs or a TOML path"},
                "tick_ms": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        description="multimodal fusion: observations -> intents, by an intent spec",
    )
