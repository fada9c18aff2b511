"""Fusion: observations from hands, speech, wrist and context -> intent events (see docs/fusion.md).

from fusion import FusionEngine, load_spec
engine = FusionEngine(load_spec("default_ar"), scene)
events = engine.push(obs)
"""

from fusion.engine import EngineOptions, EngineStats, FusionEngine
from fusion.spec import Spec, SpecError, SpecOptions, load_spec, loads_spec, speech_grammar
from fusion.stage import FusionStage, Tick, Ticker

__all__ = [
    "EngineOptions",
    "EngineStats",
    "FusionEngine",
    "FusionStage",
    "Spec",
    "SpecError",
    "SpecOptions",
    "Tick",
    "Ticker",
    "load_spec",
    "loads_spec",
    "speech_grammar",
]
