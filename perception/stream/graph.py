"""Wiring by type: stages declare what they consume and produce; the graph connects every producer of a
type to every consumer of it, whatever order they were declared in, and builds the pipeline.

    g = Graph()
    g.add(replay, produces=(VideoFrame, AudioChunk, ImuBatch))
    g.add(wrist, consumes=(ImuBatch,), produces=(Observation,))
    g.add(fusion, consumes=(Observation,), produces=(IntentEvent,))
    g.add(printer, consumes=(IntentEvent,), role=Role.SINK)
    pipeline = g.build(Pipeline())

Edges are typed channels: a consumer receives only the types it declared, so one mixed stream (a
replayed recording) feeds each recogniser without a filter stage. A sink's output feeds nothing; a
companion source (a clock ticker) feeds only its owner. A cycle is refused with its path.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

from perception.stream.pipeline import Pipeline
from perception.stream.stage import Source, Stage

log = logging.getLogger("cuekit.graph")


class Role(enum.Enum):
    SOURCE = "source"
    STAGE = "stage"  # consumes and produces: recognisers, context, fusion
    SINK = "sink"  # consumes only: GUI, recorder, network taps


class GraphError(ValueError):
    pass


@dataclass(slots=True)
class GraphNode:
    stage: Stage
    consumes: tuple[type, ...]
    produces: tuple[type, ...]
    role: Role
    group: str = ""  # the config section it came from, for display
    origin: str = ""  # the plugin (or caller) that made it, for display
    feeds: str | None = None  # a companion source feeds only this stage
    inputs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.stage.name


def overlaps(produces: tuple[type, ...], consumes: tuple[type, ...]) -> bool:
    """Whether an item of some produced type can be one that is consumed (either is a subclass)."""
    return any(issubclass(p, c) or issubclass(c, p) for p in produces for c in consumes)


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, GraphNode] = {}

    def add(
        self,
        stage: Stage,
        consumes: tuple[type, ...] = (),
        produces: tuple[type, ...] = (),
        role: Role | None = None,
        group: str = "",
        feeds: Stage | str | None = None,
        origin: str = "",
    ) -> GraphNode:
        if stage.name in self.nodes:
            raise GraphError(f"a stage named {stage.name!r} is already in the graph")
        if role is None:
            role = Role.SOURCE if isinstance(stage, Source) else (Role.STAGE if produces else Role.SINK)
        if role is Role.SOURCE and consumes:
            raise GraphError(f"source {stage.name!r} consumes nothing")
        node = GraphNode(
            stage,
            tuple(consumes),
            tuple(produces),
            role,
            group=group,
            origin=origin,
            feeds=feeds.name if isinstance(feeds, Stage) else feeds,
        )
        self.nodes[stage.name] = node
        return node

    def wire(self) -> list[GraphNode]:
        """Compute every node's inputs; returns the nodes in an order where inputs come first."""
        for node in self.nodes.values():
            node.inputs = []
        for node in self.nodes.values():
            if node.feeds is not None:
                if node.feeds not in self.nodes:
                    raise GraphError(f"{node.name!r} feeds unknown stage {node.feeds!r}")
                self.nodes[node.feeds].inputs.append(node.name)
        for consumer in self.nodes.values():
            if consumer.role is Role.SOURCE or not consumer.consumes:
                continue
            for producer in self.nodes.values():
                if producer is consumer or producer.role is Role.SINK or producer.feeds is not None:
                    continue
                if overlaps(producer.produces, consumer.consumes):
                    consumer.inputs.append(producer.name)
        return self._topological()

    def _topological(self) -> list[GraphNode]:
        order: list[GraphNode] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name) :] + [name]
                raise GraphError("the stages form a cycle: " + " -> ".join(reversed(cycle)))
            state[name] = 1
            for up in self.nodes[name].inputs:
                visit(up, path + [name])
            state[name] = 2
            order.append(self.nodes[name])

        for name in self.nodes:
            visit(name, [])
        return order

    def build(self, pipeline: Pipeline) -> Pipeline:
        """Add every node to `pipeline` with typed input channels."""
        for node in self.wire():
            if node.role is Role.SOURCE:
                pipeline.add(node.stage)
                continue
            if not node.inputs:
                log.warning(
                    "%s consumes %s but nothing produces that; it will idle",
                    node.name,
                    [t.__name__ for t in node.consumes],
                )
            # a companion's items (clock ticks) are the owner's own business: not filtered by type
            own = [n for n in node.inputs if self.nodes[n].feeds == node.name]
            pipeline.add(node.stage, inputs=node.inputs, accepts=node.consumes or None, unfiltered=own)
        return pipeline

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": n.name,
                "group": n.group,
                "origin": n.origin,
                "role": n.role.value,
                "inputs": list(n.inputs),
                "consumes": [t.__name__ for t in n.consumes],
                "produces": [t.__name__ for t in n.produces],
            }
            for n in self.nodes.values()
        ]
