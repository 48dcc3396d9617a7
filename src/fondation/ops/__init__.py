"""The runbook's procedures as code: monitor, doctor, credentials, backups, security, incident reports.

Just beneath the faces: it may use every layer below (store, queue, accounts, providers, worker
health); only the CLI (and the web app, should it need a procedure) imports it.
"""
