"""perf: the project's experiments and checks, not shipped in the service images.

* ``python -m perf.lease``: lease micro-benchmarks against the baselines.
* ``python -m perf.contention``: the backend and the runner sharing one device.
* ``python -m perf.gpu_check``: the whole system on a CUDA host, with its figures.

Every one of them appends its section to ``docs/performance.md`` through
:func:`perf.perfdoc.append_section`. The baselines (:mod:`perf.baselines`) and
the lease-shaped :class:`perf.baselines.Held` protocol live here, beside the
code that compares them; the services never import this package.
"""
