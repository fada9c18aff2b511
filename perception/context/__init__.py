"""Perception of context: the scene of targets, face/iris gaze, the context UDP feed.

What was pointed at or looked at *when* (the history fusion asks about deictic words) and the ray
geometry that decides it are fusion's: `fusion.context.ContextTracker`, `fusion.rays`.
"""

from perception.context.scene import Scene, SceneError, Target

__all__ = ["Scene", "SceneError", "Target"]
