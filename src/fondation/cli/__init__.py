"""The `fondation` command line: submit sources, inspect and steer jobs, look after the database."""
