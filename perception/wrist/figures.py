"""Figure for docs/wrist.md: the built-in recogniser on a simulated stream (python -m perception.wrist.figures).

Shows the conditioned signal (linear acceleration, angular rate, twist angle) with the injected gestures
and what the streaming recogniser emitted, for an accelerometer+gyroscope stream at 100 Hz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from perception.wrist.conditioning import Conditioner
from perception.wrist.recognizer import recognize
from perception.wrist.synthetic import Scene, SimEvent, render, split

REPO = Path(__file__).resolve().parents[2]
EVENTS = [
    ("tap", 1.0),
    ("double_tap", 3.0),
    ("flick_left", 5.0),
    ("flick_right", 7.0),
    ("flick_up", 9.0),
    ("flick_down", 11.0),
    ("twist_cw", 13.0),
    ("twist_ccw", 15.0),
    ("shake", 17.0),
]


def stream_figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = render(Scene(19.5, [SimEvent(k, t) for k, t in EVENTS]), 100, jitter=0.1)
    c = Conditioner()
    blocks = [c.push(b) for b in split(batch, 10)]
    t = (np.concatenate([b.t_ns for b in blocks]) - batch.t_ns[0]) / 1e9
    lin = np.concatenate([b.linear for b in blocks])
    gyr = np.concatenate([b.gyro for b in blocks])
    tw = np.degrees(np.concatenate([b.twist for b in blocks]))
    obs = recognize(split(batch, 10)).observations
    fig, axes = plt.subplots(3, 1, figsize=(10, 5.2), sharex=True)
    axes[0].plot(t, np.linalg.norm(lin, axis=1), lw=0.8)
    axes[0].set_ylabel("|linear acc| (g)")
    axes[1].plot(t, gyr, lw=0.7)
    axes[1].set_ylabel("gyro (rad/s)")
    axes[2].plot(t, tw, lw=0.8)
    axes[2].set_ylabel("twist (deg)")
    axes[2].set_xlabel("time (s)")
    for _kind, ts in EVENTS:
        axes[0].axvline(ts, color="gray", lw=0.6, ls="--")
    t0 = batch.t_ns[0]
    for o in obs:
        a, b = (o.t_start_ns - t0) / 1e9, (o.t_end_ns - t0) / 1e9
        for ax in axes:
            ax.axvspan(a, b, color="tab:green", alpha=0.2)
        axes[0].text(a, axes[0].get_ylim()[1] * 0.92, f"{o.kind}\n{o.confidence:.2f}", fontsize=6.5, va="top")
    axes[0].set_title(
        "streaming built-in gestures (100 Hz accel+gyro; dashed = injected onset, green = emitted)", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else REPO / "docs" / "img" / "wrist_stream.png"
    stream_figure(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
