"""ramen core helpers shared by every package: atomic I/O, hashing, errors, console, model specs.

The stage packages (curation, evaluation, training, launch) sit on top of this one; it imports
none of them.
"""

__version__ = "0.1.0"
