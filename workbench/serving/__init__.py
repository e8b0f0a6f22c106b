"""Serving: load a run and predict (:mod:`.predictor`), the Gradio demo of sequence runs (:mod:`.demo`), chat
with an SFT run (:mod:`.chat`)."""
