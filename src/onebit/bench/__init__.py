"""Benchmarks and their reports, one home: ``onebit bench bgemm|bconv2d|zoo|mlp|fuzz``.

Every figure is printed beside its baseline measured in the same run; every result file is a JSON
document (:mod:`onebit.bench.report`) that carries the machine and the provenance (commit, diff
hash, SIMD path, load before and after: :mod:`onebit.bench.provenance`), and its Markdown report
is rendered from that JSON alone. Tests never time anything.
"""
