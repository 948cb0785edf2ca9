"""Hotlist matching: confusable-aware plate keys and an index for a million entries."""
