"""Speech: Silero VAD, grammar-constrained speech-to-intent (PocketSphinx), wake phrase, evaluation.

See docs/speech.md. Main entry points: `SpeechStage` (pipeline), `SpeechRecognizer` (streaming/batch),
`Context` + `compile_grammar` (grammars), `SpeechBackend` (plug in other recognisers).
"""
