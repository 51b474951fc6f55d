"""GRVT's face of the simulated venue (grvt-api.md), spoken to the unmodified grvt-pysdk."""
