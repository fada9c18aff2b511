"""Few-shot custom wrist gestures: enroll a new gesture from 1, 3 or 5 examples.

An example is embedded with the CNN's penultimate layer (global-average-pooled features), centred on the
mean embedding of the model's training data (stored in the model's metadata) and L2-normalised; a
gesture's prototype is the normalised mean of its examples. A window matches the prototype with the
highest cosine similarity. Enrolled gestures are saved as JSON tied to the model file's SHA-256, because
prototypes from one model mean nothing to another.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from perception.wrist.learned import WristModel


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CustomGestures:
    def __init__(self, model: WristModel) -> None:
        self.model = model
        mean = model.meta.get("embedding_mean")
        self.center = np.asarray(mean, dtype=np.float64) if mean is not None else None
        self.prototypes: dict[str, np.ndarray] = {}
        self.n_examples: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.prototypes)

    @property
    def names(self) -> list[str]:
        return list(self.prototypes)

    def normalise(self, emb: np.ndarray) -> np.ndarray:
        e = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        if self.center is not None:
            e = e - self.center
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def embed_clips(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        _, emb = self.model.predict(self.model.clip_windows(clips))
        return self.normalise(emb)

    def enroll(self, name: str, clips: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add (or replace) gesture `name` from example clips [(t_ns, accel_g)]."""
        if not name or not isinstance(name, str):
            raise ValueError("a custom gesture needs a non-empty name")
        if not clips:
            raise ValueError(f"enrolling {name!r} needs at least one example")
        self.enroll_embeddings(name, self.embed_clips(clips))

    def enroll_embeddings(self, name: str, emb: np.ndarray) -> None:
        """Add a gesture from already-normalised example embeddings (B, E)."""
        e = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        p = e.mean(axis=0)
        self.prototypes[name] = p / max(float(np.linalg.norm(p)), 1e-12)
        self.n_examples[name] = int(e.shape[0])

    def remove(self, name: str) -> None:
        self.prototypes.pop(name, None)
        self.n_examples.pop(name, None)

    def similarities(self, emb_normalised: np.ndarray) -> np.ndarray:
        """(B, n_gestures) cosine similarities for already-normalised embeddings."""
        protos = np.stack([self.prototypes[n] for n in self.names])
        return np.atleast_2d(emb_normalised) @ protos.T

    def match(self, emb: np.ndarray) -> tuple[str, float]:
        """Best enrolled gesture for one raw model embedding and its cosine similarity."""
        if not self.prototypes:
            raise ValueError("no custom gestures enrolled")
        s = self.similarities(self.normalise(emb))[0]
        k = int(s.argmax())
        return self.names[k], float(s[k])

    def classify_clips(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[str], np.ndarray]:
        s = self.similarities(self.embed_clips(clips))
        k = s.argmax(axis=1)
        return [self.names[i] for i in k], s[np.arange(len(k)), k]

    # -- persistence -------------------------------------------------------------------------------------
    def save(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": "cuekit.wrist.custom_gestures/1",
            "model": self.model.path.name,
            "model_sha256": _sha256(self.model.path),
            "gestures": {
                n: {"prototype": [float(v) for v in p], "n_examples": self.n_examples[n]}
                for n, p in self.prototypes.items()
            },
        }
        path.write_text(json.dumps(doc, indent=1))

    @classmethod
    def load(cls, path: Path | str, model: WristModel) -> CustomGestures:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read custom gestures from {path}: {exc}") from exc
        if doc.get("format") != "cuekit.wrist.custom_gestures/1":
            raise ValueError(f"{path} is not a CueKit custom-gesture file")
        if doc.get("model_sha256") != _sha256(model.path):
            raise ValueError(
                f"{path} was enrolled with model {doc.get('model')!r}, not {model.path.name}; "
                "enroll the gestures again with this model"
            )
        cg = cls(model)
        for name, g in doc["gestures"].items():
            p = np.asarray(g["prototype"], dtype=np.float64)
            if p.shape != (model.meta.get("embedding_dim", p.shape[0]),):
                raise ValueError(f"{path}: prototype of {name!r} has shape {p.shape}")
            cg.prototypes[name] = p
            cg.n_examples[name] = int(g.get("n_examples", 0))
        return cg


# -- enrollment from recorded clips ----------------------------------------------------------------------------
def read_clip(path: Path | str, rate_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """One example gesture from a text/CSV file in any format the IMU sources read (perception/sources/
    imu_format.py); lines without device time are spaced at `rate_hz`. Returns (t_ns, accel in g)."""
    from perception.sources.imu_format import ImuLineParser, MalformedImuLine
    from perception.wrist.units import G

    parser = ImuLineParser()
    samples = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                samples += parser.feed(line)
            except MalformedImuLine:
                continue
    samples += parser.flush()
    if len(samples) < 3:
        raise ValueError(f"{path}: fewer than 3 IMU samples could be read")
    if all(s.t_dev_ns is not None for s in samples):
        t = np.array([s.t_dev_ns for s in samples], dtype=np.int64)
    else:
        t = (np.arange(len(samples)) * (1e9 / rate_hz)).astype(np.int64)
    keep = np.concatenate([[True], np.diff(t) > 0])
    accel = np.stack([s.accel for s in samples]) / G
    return t[keep], accel[keep]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m perception.wrist.fewshot",
        description="Enroll (or remove) custom wrist gestures from example recordings.",
    )
    ap.add_argument("--model", type=Path, required=True, help="wrist model (.onnx from train.py)")
    ap.add_argument("--store", type=Path, required=True, help="custom-gesture JSON (created or updated)")
    ap.add_argument("--name", help="gesture name to enroll")
    ap.add_argument("--remove", help="gesture name to remove")
    ap.add_argument("examples", nargs="*", type=Path, help="1-5 recordings of the gesture (CSV/text lines)")
    args = ap.parse_args(argv)
    model = WristModel(args.model)
    cg = CustomGestures.load(args.store, model) if args.store.exists() else CustomGestures(model)
    if args.remove:
        cg.remove(args.remove)
    if args.name:
        if not args.examples:
            ap.error("--name needs example recordings")
        cg.enroll(args.name, [read_clip(p) for p in args.examples])
    cg.save(args.store)
    print(json.dumps({"store": str(args.store), "gestures": cg.n_examples}))
    return 0 if (args.name or args.remove) else 1


if __name__ == "__main__":
    raise SystemExit(main())
