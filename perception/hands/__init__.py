"""Hands: ONNX hand landmarker (palm detection -> rotated ROI -> 21 landmarks, tracked), static gestures
(trained classifier + rule baseline), dynamic gestures, few-shot custom gestures, and the pipeline stage.

Entry points: `landmarker.HandLandmarker`, `gestures.HandGestureRecognizer`, `stage.HandStage`,
`custom.CustomGestureSet`; see docs/hands.md.
"""
