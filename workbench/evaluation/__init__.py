"""Evaluation: metrics with bootstrap intervals and their plots (:mod:`.metrics`), classical baselines
(:mod:`.baselines`)."""
