"""The stream runtime every modality runs on: core sample types, the clock, queues, stages, pipelines."""

from perception.stream.clock import Clock, MonotonicClock, ReplayClock, now_ns
from perception.stream.types import (
    AudioChunk,
    HandLandmarks,
    ImuBatch,
    IntentEvent,
    Observation,
    VideoFrame,
)

__all__ = [
    "AudioChunk",
    "Clock",
    "HandLandmarks",
    "ImuBatch",
    "IntentEvent",
    "MonotonicClock",
    "Observation",
    "ReplayClock",
    "VideoFrame",
    "now_ns",
]
from perception.stream.channel import END, Channel, QueuePolicy  # noqa: E402
from perception.stream.graph import Graph, GraphError, Role  # noqa: E402
from perception.stream.pipeline import Pipeline  # noqa: E402
from perception.stream.stage import (  # noqa: E402
    CallbackSink,
    Emit,
    FunctionStage,
    Sink,
    Source,
    Stage,
)

__all__ += [
    "END",
    "CallbackSink",
    "Channel",
    "Emit",
    "FunctionStage",
    "Graph",
    "GraphError",
    "Pipeline",
    "QueuePolicy",
    "Role",
    "Sink",
    "Source",
    "Stage",
]
