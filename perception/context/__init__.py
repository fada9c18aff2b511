"""Perception of context: the scene of targets, ray geometry, face/iris gaze, the context UDP feed.

What was pointed at or looked at *when* (the history fusion asks about deictic words) is fusion's:
`fusion.context.ContextTracker`.
"""
from perception.context.rays import RayHit, cast_ray_2d, cast_ray_3d, hit_point_2d, pointing_ray_3d
from perception.context.scene import Scene, SceneError, Target

__all__ = ["RayHit", "Scene", "SceneError", "Target", "cast_ray_2d", "cast_ray_3d", "hit_point_2d", "pointing_ray_3d"]
