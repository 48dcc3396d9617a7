"""Accounts: users, passwords, sessions, API tokens, GitHub sign-in, and the secrets they keep.

Below the faces (web, CLI) and beside the generator: both faces apply the same rules through
`Accounts`, and the worker reads a job owner's GitHub token through it for private clones.
"""

from fondation.accounts.service import Accounts, NewSession

__all__ = ["Accounts", "NewSession"]
