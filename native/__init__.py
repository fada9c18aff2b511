"""CueKit's C kernels (compiled by the package build as `native._kernels`) and their Python faces."""
from native._kernels import normalize_u8
from native.image import LetterboxTransform, RoiTransform, image_to_tensor, letterbox, roi_transform

__all__ = [
    "normalize_u8",
    "image_to_tensor", "letterbox", "roi_transform", "RoiTransform", "LetterboxTransform",
]
