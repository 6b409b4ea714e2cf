"""Konsortio's reliability and security proof: the delivery guarantees, shown under faults.

``python -m reliability`` starts the real stack (embedded PostgreSQL, the Tansu broker, an
SMTP sink and every service as its own process), drives a steady load of realistic commands,
injects faults, and reconciles every command made with every effect observed. It prints
``N passed, N failed`` last and writes ``reports/reliability.json``.
"""
