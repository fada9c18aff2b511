"""False activations of every wrist gesture on real everyday wrist motion, through the live streaming path.

The everyday smartwatch recordings (11 subjects sitting, standing up, walking, turning, sitting down; a
watch at ~100 Hz with accel and gyro) hold no gesture at all, so everything the recogniser emits there is a
false activation. Each recording is cut into the batches a live source delivers and pushed through
`WristGestures`, the object the pipeline stage runs: rule gestures alone (no model), then each learned
model with its classes as the only kinds emitted (so the shared refractory period cannot hide one
behind another).

Subjects are split by person: the developer half is the only part any threshold was tuned on; the
held-out half is reported separately and was never used to choose anything.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from perception.stream.types import ImuBatch
from perception.wrist.datasets import ImuStream, load_everyday
from perception.wrist.learned import WristModel
from perception.wrist.recognizer import WristGestures, WristOptions
from perception.wrist.vocabulary import BUILTIN_GESTURES

DEVELOPER_SUBJECTS = ("s01", "s02", "s03", "s04", "s05")  # thresholds tuned here only
BATCH_SAMPLES = 10  # what a 100 Hz watch source delivers per 0.1 s


def is_everyday_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("s*_sw.csv"))


def _batches(s: ImuStream, size: int = BATCH_SAMPLES) -> list[ImuBatch]:
    return [
        ImuBatch(
            t_ns=s.t_ns[i : i + size],
            accel=s.accel[i : i + size],
            gyro=None if s.gyro is None else s.gyro[i : i + size],
            seq=k,
            source_id=s.subject,
        )
        for k, i in enumerate(range(0, len(s.t_ns), size))
    ]


def run_stream(s: ImuStream, options: WristOptions) -> list:
    """Observations of one recording, pushed batch by batch as a live source would deliver it."""
    rec = WristGestures(options, source_id=s.subject)
    out = []
    for b in _batches(s):
        out += rec.push(b)
    return out + rec.flush()


def _rate(n: int, hours: float) -> float:
    return n / hours if hours > 0 else float("nan")


def everyday_false_activations(
    root: Path,
    model_paths: list[Path] | None = None,
    developer: tuple[str, ...] = DEVELOPER_SUBJECTS,
    options: WristOptions | None = None,
    progress: bool = True,
) -> dict:
    t0 = time.perf_counter()
    streams = load_everyday(root)
    if not streams:
        raise ValueError(f"{root} holds no everyday smartwatch recordings (sXX_YY_sw.csv)")
    subjects = sorted({s.subject for s in streams})
    hours = {u: sum(s.duration_s for s in streams if s.subject == u) / 3600.0 for u in subjects}
    halves = {
        "developer": [u for u in subjects if u in developer],
        "held_out": [u for u in subjects if u not in developer],
    }
    # (source, kind) -> subject -> count; source = "rules" or the model file name
    counts: dict[tuple[str, str], Counter] = {}
    where: list[dict] = []
    runs: list[tuple[str, WristOptions, list[str]]] = [("rules", options or WristOptions(), list(BUILTIN_GESTURES))]
    for mp in model_paths or []:
        labels = WristModel(mp).gesture_labels
        base = options or WristOptions()
        runs.append(
            (
                mp.name,
                WristOptions(
                    conditioner=base.conditioner,
                    segmenter=base.segmenter,
                    rules=base.rules,
                    raise_=base.raise_,
                    model_path=mp,
                    streaming=base.streaming,
                    emit_kinds=tuple(labels),
                ),
                labels,
            )
        )
    for source, opts, kinds in runs:
        for k in kinds:
            counts[(source, k)] = Counter()
        for i, s in enumerate(streams):
            for o in run_stream(s, opts):
                counts.setdefault((source, o.kind), Counter())[s.subject] += 1
                idx = min(int(np.searchsorted(s.t_ns, o.t_start_ns)), len(s.t_ns) - 1)
                where.append(
                    {
                        "source": source,
                        "kind": o.kind,
                        "recording": s.name,
                        "t_s": round((o.t_start_ns - int(s.t_ns[0])) / 1e9, 2),
                        "activity": str(s.labels[idx]) if s.labels is not None else None,
                    }
                )
            if progress and (i + 1) % 25 == 0:
                print(
                    f"[eval imu] everyday negatives, {source}: {i + 1}/{len(streams)} recordings",
                    file=sys.stderr,
                    flush=True,
                )

    def block(subs: list[str]) -> dict:
        h = sum(hours[u] for u in subs)
        per_kind = {
            f"{src}:{k}" if src != "rules" else k: {
                "n": sum(c[u] for u in subs),
                "per_hour": _rate(sum(c[u] for u in subs), h),
            }
            for (src, k), c in counts.items()
        }
        n = sum(v["n"] for v in per_kind.values())
        return {
            "subjects": subs,
            "hours": round(h, 4),
            "false_activations": n,
            "per_hour": _rate(n, h),
            "worst_gesture_per_hour": max((v["per_hour"] for v in per_kind.values()), default=0.0),
            "by_gesture": per_kind,
        }

    held_hours = sum(hours[u] for u in halves["held_out"])
    out = {
        "dataset": str(root),
        "recordings": len(streams),
        "hours": round(sum(hours.values()), 4),
        "split": "by subject: developer half (thresholds tuned here) / held-out half (never used to tune)",
        "developer": block(halves["developer"]),
        "held_out": block(halves["held_out"]),
        "overall": block(subjects),
        "per_subject": {
            u: {
                "hours": round(hours[u], 4),
                "false_activations": {
                    (f"{src}:{k}" if src != "rules" else k): c[u] for (src, k), c in counts.items() if c[u]
                },
            }
            for u in subjects
        },
        "activations": where,
        "note": f"one activation in the held-out half is ~{_rate(1, held_hours):.1f} per hour: "
        "0 means below that resolution",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if progress:
        print(
            f"[eval imu] everyday negatives: {out['overall']['false_activations']} activations in "
            f"{out['hours']:.2f} h (developer {out['developer']['false_activations']}, held-out "
            f"{out['held_out']['false_activations']})",
            file=sys.stderr,
            flush=True,
        )
    return out
