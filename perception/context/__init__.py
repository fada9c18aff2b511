"""Context for fusion: the scene of targets and what was pointed at, looked at, selected or named."""
from perception.context.rays import RayHit, cast_ray_2d, cast_ray_3d, hit_point_2d
from perception.context.scene import Scene, SceneError, Target
from perception.context.tracker import ContextOptions, ContextRecord, ContextTracker

__all__ = ["ContextOptions", "ContextRecord", "ContextTracker", "RayHit", "Scene", "SceneError", "Target",
           "cast_ray_2d", "cast_ray_3d", "hit_point_2d"]
