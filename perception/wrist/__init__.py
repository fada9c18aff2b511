"""Wrist IMU: input conditioning, built-in gestures (rules), the learned CNN and few-shot custom gestures.

The pipeline stage is `perception.wrist.recognizer.WristGestureRecognizer`; see docs/wrist.md.
"""
