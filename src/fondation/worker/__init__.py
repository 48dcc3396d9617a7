"""The worker runtime: claims jobs, runs each in its own child process, keeps their leases, reports."""
