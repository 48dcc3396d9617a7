"""Fondation's job queue side by side with the Python queues a user would pick instead (`make bench-peers`).

`run.py` orchestrates and writes docs/BENCHMARKS-PEERS.md; each system has a module that runs one
measurement in a process of its own (`harness.py` is their shared command line): `fondation_queue.py`
(Fondation's `JobQueue`, driven the way its worker drives it), `procrastinate_queue.py` and
`pgqueuer_queue.py`. The peers are installed from `requirements.txt` into a separate virtualenv by
scripts/bench-peers.sh: they are never dependencies of Fondation, and nothing else imports this package.
"""
