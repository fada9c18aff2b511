"""Screenshot of the demo window on the bundled session, for docs/ and the README.

Runs a real window on a virtual X screen: `xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python
scripts/screenshot_demo.py` (scripts/screenshot_demo.sh does exactly that). The session plays in real
time and the window is grabbed `--at` seconds in, during "move that there" by default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.demo import build_pipeline, source_choices  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from fusion.spec import load_spec  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--at", type=float, default=29.0, help="seconds into the session")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "demo_window.png")
    a = ap.parse_args()
    app = QApplication(sys.argv[:1])
    win = MainWindow(build_pipeline, source_choices(None, live=False), spec_validator=load_spec)
    win.resize(1400, 860)
    win.show()
    win.start_source(0)

    def grab(win: MainWindow = win) -> None:  # bound now: `win` is deleted before the interpreter exits
        win._refresh_stats()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        shot = app.primaryScreen().grabWindow(win.winId()) if app.platformName() == "xcb" else win.grab()
        shot.save(str(a.out))
        print(f"saved {a.out} ({shot.width()}x{shot.height()}, platform {app.platformName()})")
        win.close()
        app.quit()

    QTimer.singleShot(int(a.at * 1000), grab)
    code = app.exec()
    win.stop_pipeline()
    # tear the window down while Qt still runs: letting the interpreter's final garbage collection
    # destroy it after the QApplication has crashed the xcb platform plugin
    win.deleteLater()
    app.processEvents()
    del win
    return code


if __name__ == "__main__":
    sys.exit(main())
