"""Evaluating models on a built benchmark: messages per item, answer parsing, statistics and the runner."""
