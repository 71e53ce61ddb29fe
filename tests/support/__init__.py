"""Helpers shared by the test tiers; each module says which tiers may import it."""
