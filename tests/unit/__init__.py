"""Tests of one module or a few, in process, on real SQLite files and real local servers."""
