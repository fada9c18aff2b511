"""Opens the demo window: the one place the demo's GUI path enters Qt (the headless path never does)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.assembly import SourceChoice
from app.gui.main_window import MainWindow, PipelineFactory


def run_window(factory: PipelineFactory, choices: list[SourceChoice], spec: str | Path) -> int:
    from fusion.spec import load_spec

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(
        factory, choices, spec_path=Path(spec) if Path(spec).is_file() else None, spec_validator=lambda p: load_spec(p)
    )
    win.show()
    win.start_source(0)
    return app.exec()
