"""Camera view: the newest frame with hand skeletons, gesture labels, AR targets, the gaze point and
the pointing ray drawn over it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from perception.hands.landmarks import CONNECTIONS
from perception.stream import HandLandmarks, VideoFrame

HAND_EDGES = CONNECTIONS  # MediaPipe's 21-point hand topology, defined beside the hand model
# a hand is drawn only while fresh: this long after its frame it is considered lost
HAND_STALE_NS = 300_000_000
# a gesture label names what the hand did recently, not for ever
LABEL_STALE_NS = 1_000_000_000
# gaze and pointing are drawn while they are current
GAZE_STALE_NS = 500_000_000
POINT_STALE_NS = 500_000_000
# the target an intent named stays highlighted this long
HIGHLIGHT_NS = 2_000_000_000


class CameraView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(480, 360)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._frame_size = (640, 480)
        self._frame_t_ns = 0
        self._hands: dict[int, HandLandmarks] = {}
        self._labels: dict[int, tuple[str, int]] = {}  # track -> (gesture, time of its observation)
        self._gaze: tuple[float, float, int] | None = None  # image point, time
        self._pointing: dict[int, tuple[tuple[float, float], tuple[float, float], int]] = {}  # tip, dir, time
        self._targets: list[dict] = []
        self._highlight: str | None = None
        self._highlight_t_ns = 0
        self.frames_shown = 0
        self.frames_skipped = 0
        self._dirty = False

    # inputs ------------------------------------------------------------------------------
    def set_frame(self, frame: VideoFrame) -> None:
        """Keeps only the newest frame; painting happens on the next repaint tick."""
        if self._dirty:
            self.frames_skipped += 1
        img = frame.image
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        rgb = np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
        h, w = rgb.shape[:2]
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._frame_size = (w, h)
        self._frame_t_ns = frame.t_capture_ns
        self._dirty = True

    def set_frame_size(self, size: tuple[int, int]) -> None:
        self._frame_size = size

    def set_hand(self, hand: HandLandmarks) -> None:
        self._hands[hand.track_id] = hand
        self._frame_t_ns = max(self._frame_t_ns, hand.t_capture_ns)
        self._dirty = True

    def set_gesture_label(self, track_id: int, label: str, t_ns: int | None = None) -> None:
        self._labels[track_id] = (label, self._frame_t_ns if t_ns is None else int(t_ns))
        self._dirty = True

    def set_gaze(self, point: tuple[float, float], t_ns: int) -> None:
        """Where the user looks, in frame pixels."""
        self._gaze = (float(point[0]), float(point[1]), int(t_ns))
        self._frame_t_ns = max(self._frame_t_ns, int(t_ns))
        self._dirty = True

    def set_pointing(self, track_id: int, tip: tuple[float, float], direction: tuple[float, float], t_ns: int) -> None:
        """A pointing hand: the index fingertip and the 2-D direction it points in (frame pixels)."""
        self._pointing[track_id] = (
            (float(tip[0]), float(tip[1])),
            (float(direction[0]), float(direction[1])),
            int(t_ns),
        )
        self._dirty = True

    def current_label(self, track_id: int) -> str | None:
        """The gesture label drawn on that hand now (None when it has gone stale)."""
        got = self._labels.get(track_id)
        if got is None or self._frame_t_ns - got[1] > LABEL_STALE_NS:
            return None
        return got[0]

    def gaze_visible(self) -> bool:
        return self._gaze is not None and self._frame_t_ns - self._gaze[2] <= GAZE_STALE_NS

    def pointing_visible(self, track_id: int) -> bool:
        got = self._pointing.get(track_id)
        return got is not None and self._frame_t_ns - got[2] <= POINT_STALE_NS

    def set_targets(self, targets: list[dict]) -> None:
        """targets: [{"id", "label", "box": [x0, y0, x1, y1] in frame pixels}]"""
        self._targets = list(targets)
        self._dirty = True

    def highlight_target(self, target_id: str | None, t_ns: int | None = None) -> None:
        self._highlight = target_id
        self._highlight_t_ns = self._frame_t_ns if t_ns is None else int(t_ns)
        self._dirty = True

    def highlighted(self) -> str | None:
        """The target drawn highlighted now (an intent named it within HIGHLIGHT_NS)."""
        if self._highlight is None or self._frame_t_ns - self._highlight_t_ns > HIGHLIGHT_NS:
            return None
        return self._highlight

    def tick(self) -> None:
        """Called by the GUI's repaint timer: paint only when something changed."""
        if self._dirty:
            self._dirty = False
            self.frames_shown += 1
            self.update()

    # painting ----------------------------------------------------------------------------
    def _mapping(self) -> tuple[float, float, float]:
        fw, fh = self._frame_size
        s = min(self.width() / fw, self.height() / fh)
        return s, (self.width() - fw * s) / 2, (self.height() - fh * s) / 2

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(20, 22, 28))
        s, ox, oy = self._mapping()
        fw, fh = self._frame_size
        view = QRectF(ox, oy, fw * s, fh * s)
        if self._image is not None:
            p.drawImage(view, self._image)
        else:
            p.fillRect(view, QColor(40, 44, 52))
        p.setFont(QFont("Sans", 10))
        for t in self._targets:
            x0, y0, x1, y1 = t["box"]
            r = QRectF(ox + x0 * s, oy + y0 * s, (x1 - x0) * s, (y1 - y0) * s)
            hot = t["id"] == self.highlighted()
            p.setPen(QPen(QColor(255, 200, 0) if hot else QColor(0, 200, 255), 3 if hot else 2))
            p.drawRect(r)
            p.drawText(
                r.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, t.get("label", t["id"])
            )
        for tid, (tip, d, _) in list(self._pointing.items()):
            if not self.pointing_visible(tid):
                continue
            n = max(1e-6, (d[0] ** 2 + d[1] ** 2) ** 0.5)
            a = QPointF(ox + tip[0] * s, oy + tip[1] * s)
            b = QPointF(ox + (tip[0] + d[0] / n * 400) * s, oy + (tip[1] + d[1] / n * 400) * s)
            pen = QPen(QColor(255, 120, 200), 2, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawLine(a, b)
        if self.gaze_visible():
            gx, gy, _ = self._gaze
            c = QPointF(ox + gx * s, oy + gy * s)
            p.setPen(QPen(QColor(255, 220, 0), 2))
            p.drawEllipse(c, 14, 14)
            p.drawLine(c - QPointF(20, 0), c - QPointF(8, 0))
            p.drawLine(c + QPointF(8, 0), c + QPointF(20, 0))
            p.drawText(c + QPointF(16, -16), "gaze")
        for tid, hand in list(self._hands.items()):
            if self._frame_t_ns - hand.t_capture_ns > HAND_STALE_NS:
                self._labels.pop(tid, None)  # the hand is gone: so is what it did
                continue
            pts = [QPointF(ox + x * s, oy + y * s) for x, y in hand.image_xyz[:, :2]]
            p.setPen(QPen(QColor(0, 255, 120), 2))
            for a, b in HAND_EDGES:
                p.drawLine(pts[a], pts[b])
            p.setPen(QPen(QColor(255, 80, 80), 5))
            for q in pts:
                p.drawPoint(q)
            label = self.current_label(tid)
            if label:
                p.setPen(QColor(255, 255, 255))
                p.drawText(pts[0] + QPointF(8, 16), f"{hand.handedness} {label}")
        p.end()
