"""The runbook's procedures as code: monitor, doctor, credentials, backups, security, incident reports.

The top layer: it may use everything below (store, queue, accounts, worker health); nothing imports it
but the CLI.
"""
