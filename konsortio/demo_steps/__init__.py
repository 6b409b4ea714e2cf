"""Demo steps, one module per service: ``STEPS = [(phase, step), ...]``."""
