"""Timing code shared by ``benchmarks/`` and ``onebit bench``. Tests never time anything.

Every figure is printed beside its baseline measured in the same run, and results files carry the
machine and the commit.
"""
