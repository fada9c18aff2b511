#!/usr/bin/env bash
# The README's screenshot: the demo window under Xvfb (Debian packages xvfb, libxcb-cursor0).
set -euo pipefail
cd "$(dirname "$0")/.."
exec xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshot_demo.py "$@"
