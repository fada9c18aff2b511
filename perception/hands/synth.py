"""A kinematic hand model that generates labelled 21-point poses for training the static gesture classifier.

The hand is built in its own frame (u: toward the thumb side, v: wrist -> fingers, n: out of the palm)
from bone lengths and joint angles (MCP flexion and spread, PIP, DIP; a thumb chain whose direction
blends between "out" and "across the palm"), then rotated in 3-D, placed in front of a pinhole camera
at a random distance, projected to pixels and jittered. Each pose class is a distribution over joint
angles; `none` samples finger states that match no class, plus half-curled "relaxed" hands.
Thumbs up/down are labelled from where the thumb actually points in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.hands.landmarks import FINGERS
from perception.hands.vocabulary import STATIC_GESTURES

CLASSES: tuple[str, ...] = STATIC_GESTURES  # the classifier's classes, in its order

# Finger MCP positions (u, v) in units of the wrist->middle-MCP length, finger bone lengths
# (proximal, middle, distal) and resting spread angles (radians, toward +u), from adult hand proportions.
_MCP = {1: (0.30, 0.96), 2: (0.0, 1.0), 3: (-0.25, 0.94), 4: (-0.47, 0.84)}
_BONES = {1: (0.46, 0.27, 0.21), 2: (0.50, 0.31, 0.23), 3: (0.47, 0.29, 0.22), 4: (0.37, 0.21, 0.19)}
_SPREAD = {1: 0.10, 2: 0.0, 3: -0.08, 4: -0.18}
_THUMB_CMC = (0.28, 0.25)
_THUMB_BONES = (0.43, 0.33, 0.27)

# finger states: E extended, C curled; "thumb" T out, F folded across the palm
_STATES: dict[str, str] = {
    "open_palm": "TEEEE",
    "four": "FEEEE",
    "fist": "FCCCC",
    "point": "FECCC",
    "thumbs": "TCCCC",
    "victory": "FEECC",
    "call": "TCCCE",
    "rock": "FECCE",
    "i_love_you": "TECCE",
}
_CLASS_PATTERNS = {v for v in _STATES.values()}


@dataclass(slots=True)
class SynthOptions:
    image_size: tuple[int, int] = (640, 480)
    hand_px: tuple[float, float] = (40.0, 220.0)  # wrist->middle-MCP length in pixels (before perspective)
    angle_jitter: float = 0.3  # radians, per joint
    bone_jitter: float = 0.12  # relative
    landmark_noise: float = 0.03  # relative to the palm length, per coordinate
    yaw_max: float = 1.0  # radians about the hand's long axis (0 = palm square to the camera)
    pitch_max: float = 0.7  # radians about the lateral axis
    back_view_prob: float = 0.35  # hand seen from the back
    left_prob: float = 0.5
    # MediaPipe's landmark z comes out ~2x flatter than the geometry (measured on the hagrid photos:
    # z spans 0.34-0.63 palm sizes, p10-p90, where the raw geometry would give ~1.0), so synthetic depth is
    # flattened to match
    z_scale: tuple[float, float] = (0.25, 0.6)


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


class HandModel:
    """Forward kinematics of one hand; `pose(flex, spread, thumb)` -> (21,3) in hand units."""

    def __init__(self, rng: np.random.Generator, bone_jitter: float = 0.0) -> None:
        j = lambda: 1.0 + rng.uniform(-bone_jitter, bone_jitter)
        self.bones = {f: tuple(b * j() for b in bs) for f, bs in _BONES.items()}
        self.thumb_bones = tuple(b * j() for b in _THUMB_BONES)
        self.mcp = {f: np.array([u * j(), v * j(), 0.0]) for f, (u, v) in _MCP.items()}
        self.mcp[2] = np.array([0.0, 1.0, 0.0])  # defines the unit length
        self.cmc = np.array([_THUMB_CMC[0] * j(), _THUMB_CMC[1] * j(), -0.05])

    def finger(self, f: int, mcp_flex: float, pip: float, dip: float, spread: float) -> np.ndarray:
        base = self.mcp[f]
        d = np.array([np.sin(spread), np.cos(spread), 0.0])
        n = np.array([0.0, 0.0, 1.0])  # out of the palm; flexion turns the finger toward it
        pts, p, phi = [], base.copy(), 0.0
        for length, ang in zip(self.bones[f], (mcp_flex, pip, dip), strict=True):
            phi += ang
            p = p + length * (np.cos(phi) * d + np.sin(phi) * n)
            pts.append(p)
        return np.array([base] + pts)

    def thumb(self, fold: float, bend: float, abduct: float) -> np.ndarray:
        """fold 0 = thumb out to the side, 1 = across the palm toward the ring MCP; bend = IP/MCP flexion."""
        out = np.array([np.sin(0.75 + abduct), np.cos(0.75 + abduct), 0.35])
        across = np.array([-0.75, 0.45, 0.75])
        d = out / np.linalg.norm(out) * (1 - fold) + across / np.linalg.norm(across) * fold
        d = d / np.linalg.norm(d)
        n = np.cross(d, np.array([0.0, 0.0, 1.0]))
        n = n / max(np.linalg.norm(n), 1e-9)
        # bending curls the thumb toward the palm (the -u side)
        bend_axis = np.cross(d, np.array([-1.0, 0.0, 0.6]))
        bend_axis = bend_axis / max(np.linalg.norm(bend_axis), 1e-9)
        pts, p = [self.cmc.copy()], self.cmc.copy()
        for i, length in enumerate(self.thumb_bones):
            if i > 0:
                d = _rot(bend_axis, bend) @ d
            p = p + length * d
            pts.append(p)
        return np.array(pts)

    def thumb_to(self, target: np.ndarray) -> np.ndarray:
        """Thumb chain whose tip touches `target` (OK, pinch): MCP aimed between 'out' and the target,
        then a two-bone solve bending outward."""
        L1, L2, L3 = self.thumb_bones
        out = np.array([np.sin(0.8), np.cos(0.8), 0.4])
        to_t = target - self.cmc
        d1 = out / np.linalg.norm(out) + to_t / max(np.linalg.norm(to_t), 1e-9)
        d1 /= np.linalg.norm(d1)
        mcp = self.cmc + L1 * d1
        v = target - mcp
        dist = np.linalg.norm(v)
        if dist >= L2 + L3 - 1e-6:
            vu = v / max(dist, 1e-9)
            return np.array([self.cmc, mcp, mcp + L2 * vu, target])
        a = (L2 * L2 - L3 * L3 + dist * dist) / (2 * dist)
        h = np.sqrt(max(L2 * L2 - a * a, 0.0))
        vu = v / dist
        side = np.array([0.6, 0.2, 0.5]) - vu * (vu @ np.array([0.6, 0.2, 0.5]))
        side /= max(np.linalg.norm(side), 1e-9)
        ip = mcp + a * vu + h * side
        return np.array([self.cmc, mcp, ip, target])

    def assemble(self, thumb: np.ndarray, fingers: dict[int, np.ndarray]) -> np.ndarray:
        lm = np.zeros((21, 3))
        lm[list(FINGERS[0])] = thumb
        for f in range(1, 5):
            lm[list(FINGERS[f])] = fingers[f]
        return lm


def _finger_angles(rng: np.random.Generator, state: str, jit: float) -> tuple[float, float, float]:
    if state == "E":
        # real "extended" fingers are seldom straight: hagrid pinkies bend 0.8-1.4 rad in total
        mcp, pip = rng.uniform(-0.15, 0.45), rng.uniform(0.0, 0.4)
    elif state == "C":
        mcp, pip = rng.uniform(1.1, 1.6), rng.uniform(1.4, 1.9)
    else:  # "H": half-curled, neither extended nor a fist (kept clear of the widened "E" range)
        mcp, pip = rng.uniform(0.55, 1.1), rng.uniform(0.7, 1.3)
    mcp += rng.normal(0, jit * 0.5)
    pip += rng.normal(0, jit * 0.5)
    dip = 0.7 * pip + rng.normal(0, jit * 0.3)
    return mcp, pip, dip


def _pose_from_states(
    model: HandModel, rng: np.random.Generator, states: str, jit: float, spread_scale: float = 1.0
) -> np.ndarray:
    fingers = {}
    for f in range(1, 5):
        mcp, pip, dip = _finger_angles(rng, states[f], jit)
        spread = (_SPREAD[f] * spread_scale + rng.normal(0, 0.05)) if states[f] == "E" else _SPREAD[f] * 0.3
        fingers[f] = model.finger(f, mcp, pip, dip, spread)
    t = states[0]
    if t == "T":
        thumb = model.thumb(rng.uniform(-0.15, 0.1), rng.uniform(-0.1, 0.25), rng.uniform(-0.35, 0.45))
    elif t == "F" and states[2] == "C":
        # tucked over the curled middle phalanges (fist, point, victory's ring/pinky side, rock)
        mid = fingers[2][2] if states[1] == "C" else 0.5 * (fingers[2][2] + fingers[3][2])
        thumb = model.thumb_to(
            mid + np.array([rng.uniform(-0.05, 0.15), rng.uniform(-0.1, 0.05), rng.uniform(0.05, 0.15)])
        )
    elif t == "F":
        # folded across the open palm toward the ring/pinky MCPs (four)
        thumb = model.thumb_to(np.array([rng.uniform(-0.4, -0.05), rng.uniform(0.45, 0.8), rng.uniform(0.15, 0.35)]))
    else:  # "H": half way, neither out nor tucked
        thumb = model.thumb_to(np.array([rng.uniform(0.1, 0.45), rng.uniform(0.6, 0.95), rng.uniform(0.25, 0.55)]))
    return model.assemble(thumb, fingers)


def _touch_pose(model: HandModel, rng: np.random.Generator, others: str, jit: float) -> np.ndarray:
    """Thumb tip on the index tip: OK (others extended) or pinch (others curled or relaxed)."""
    fingers = {
        1: model.finger(
            1, rng.uniform(0.45, 0.9), rng.uniform(0.6, 1.1), rng.uniform(0.3, 0.7), _SPREAD[1] + rng.normal(0, 0.05)
        )
    }
    for f in range(2, 5):
        st = others if others != "mix" else rng.choice(["C", "H"])
        mcp, pip, dip = _finger_angles(rng, st, jit)
        fingers[f] = model.finger(f, mcp, pip, dip, _SPREAD[f] * (1.3 if st == "E" else 0.3))
    target = fingers[1][-1] + rng.normal(0, 0.03, 3)
    return model.assemble(model.thumb_to(target), fingers)


def _none_states(rng: np.random.Generator) -> str:
    while True:
        s = "".join(
            [rng.choice(["T", "F", "H"], p=[0.4, 0.35, 0.25])]
            + [rng.choice(["E", "C", "H"], p=[0.4, 0.35, 0.25]) for _ in range(4)]
        )
        binary = s.replace("H", "?")
        if "?" in binary or binary not in _CLASS_PATTERNS:
            return s


def _canonical(cls: str, model: HandModel, rng: np.random.Generator, jit: float) -> np.ndarray:
    if cls == "ok":
        return _touch_pose(model, rng, "E", jit)
    if cls == "pinch":
        return _touch_pose(model, rng, "mix", jit)
    if cls in ("thumbs_up", "thumbs_down"):
        return _pose_from_states(model, rng, _STATES["thumbs"], jit)
    if cls == "none":
        return _pose_from_states(model, rng, _none_states(rng), jit)
    return _pose_from_states(model, rng, _STATES[cls], jit, spread_scale=rng.uniform(0.6, 1.8))


def _thumb_vertical(lm_px: np.ndarray) -> float:
    """Cosine between the image's up direction and the thumb (MCP -> tip)."""
    v = lm_px[4, :2] - lm_px[2, :2]
    return float(-v[1] / max(np.linalg.norm(v), 1e-9))


def _place(lm: np.ndarray, rng: np.random.Generator, opt: SynthOptions, roll: float) -> np.ndarray:
    """Hand frame -> camera pixels: mirror/back view, 3-D rotation, perspective, noise."""
    p = lm.copy()
    if rng.random() < opt.left_prob:
        p[:, 0] *= -1
    if rng.random() < opt.back_view_prob:
        p = p @ _rot(np.array([0.0, 1.0, 0.0]), np.pi).T
    R = (
        _rot(np.array([0.0, 0.0, 1.0]), roll)
        @ _rot(np.array([1.0, 0.0, 0.0]), rng.uniform(-opt.pitch_max, opt.pitch_max))
        @ _rot(np.array([0.0, 1.0, 0.0]), rng.uniform(-opt.yaw_max, opt.yaw_max))
    )
    # hand frame: v up -> image -y; n out of the palm -> toward the camera (-z)
    p = p * np.array([1.0, -1.0, -1.0])
    p = p @ R.T
    w, h = opt.image_size
    size = rng.uniform(*opt.hand_px)
    f = w * rng.uniform(0.7, 1.2)
    depth = f / size  # hand units in front of the camera so the palm measures ~size px
    center = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    Z = depth + p[:, 2] - p[0, 2]
    xy = f * p[:, :2] / Z[:, None] + center
    z = (p[:, 2] - p[0, 2]) * size * rng.uniform(*opt.z_scale)  # relative depth, pixel units, wrist 0
    out = np.concatenate([xy, z[:, None]], axis=1)
    out += rng.normal(0, opt.landmark_noise * size, out.shape) * np.array([1, 1, 0.5])
    return out


def sample(cls: str, rng: np.random.Generator, opt: SynthOptions | None = None) -> np.ndarray:
    """One (21,3) pose of class `cls` in pixel coordinates."""
    if cls not in CLASSES:
        raise ValueError(f"unknown pose class {cls!r}; choose from {', '.join(CLASSES)}")
    opt = opt or SynthOptions()
    for _ in range(200):
        model = HandModel(rng, opt.bone_jitter)
        lm = _canonical(cls, model, rng, opt.angle_jitter)
        out = _place(lm, rng, opt, rng.uniform(-np.pi, np.pi))
        if cls in ("thumbs_up", "thumbs_down"):
            c = _thumb_vertical(out)
            if (cls == "thumbs_up" and c < 0.75) or (cls == "thumbs_down" and c > -0.75):
                continue
        return out
    raise RuntimeError(f"could not sample a {cls} pose")  # pragma: no cover - 200 tries never all fail


def dataset(
    n_per_class: int, seed: int, opt: SynthOptions | None = None, classes: tuple[str, ...] = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """(N,21,3) poses and (N,) int labels (index into `classes`), shuffled, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k, c in enumerate(classes):
        for _ in range(n_per_class):
            X.append(sample(c, rng, opt))
            y.append(k)
    order = rng.permutation(len(y))
    return np.array(X)[order], np.array(y, dtype=np.int64)[order]


def sample_states(states: str, rng: np.random.Generator, opt: SynthOptions | None = None) -> np.ndarray:
    """A pose from explicit finger states, for poses outside CLASSES (few-shot tests, demos).

    `states` has 5 letters, thumb first: thumb T (out) / F (tucked) / H (half); fingers E (extended) /
    C (curled) / H (half-curled). Example: "TECCC" is an L-shape.
    """
    if len(states) != 5 or states[0] not in "TFH" or any(c not in "ECH" for c in states[1:]):
        raise ValueError(f"states must be 5 letters: thumb in T/F/H then 4 of E/C/H, got {states!r}")
    opt = opt or SynthOptions()
    model = HandModel(rng, opt.bone_jitter)
    lm = _pose_from_states(model, rng, states, opt.angle_jitter)
    return _place(lm, rng, opt, rng.uniform(-np.pi, np.pi))


def plot_examples(path: str, per_class: int = 4, seed: int = 1) -> None:
    """A grid of generated poses per class (docs/img/hands_synth_poses.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perception.hands.landmarks import CONNECTIONS

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(per_class, len(CLASSES), figsize=(1.6 * len(CLASSES), 1.7 * per_class))
    for j, c in enumerate(CLASSES):
        for i in range(per_class):
            lm = sample(c, rng)
            ax = axes[i, j]
            for a, b in CONNECTIONS:
                ax.plot(lm[[a, b], 0], lm[[a, b], 1], "k-", lw=0.8)
            ax.plot(lm[4, 0], lm[4, 1], "o", color="tab:red", ms=3)
            ax.plot(lm[8, 0], lm[8, 1], "o", color="tab:blue", ms=3)
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.axis("off")
            if i == 0:
                ax.set_title(c, fontsize=8)
    fig.suptitle("synthetic training poses (image coordinates; red = thumb tip, blue = index tip)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    import sys

    plot_examples(sys.argv[1] if len(sys.argv) > 1 else "docs/img/hands_synth_poses.png")
