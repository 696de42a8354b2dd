"""The version of carnet, in one place: the package, its metadata and CITATION.cff read it."""

__version__ = "0.4.0"
