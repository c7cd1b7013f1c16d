"""Placement strategies: each module holds one, `base` holds what they share."""
