"""Benchmarks of the stream worker (``freshrec bench pipeline``, ``soak``) and its memory tracer:
what measures the product, kept apart from the product code in streams/."""
