"""supdyn: the teacher–student toy model of feature superposition and its power-law training dynamics."""

__version__ = "0.1.0"
