"""Twin definitions to and from other standards' files: DTDL v3 and the Asset Administration Shell.

Pure functions from files to twin types (and back); nothing here runs or connects.
"""

from twinworks.spec.interop.problems import InteropError, Problem

__all__ = ["InteropError", "Problem"]
