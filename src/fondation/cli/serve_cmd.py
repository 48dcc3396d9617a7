"""`fondation serve` (the web app and JSON API) and `fondation up` (the same plus workers, in one process).

Both bind to 127.0.0.1 unless told otherwise. uvicorn's access log stays off: a one-time login link
carries its token in the URL, and secrets never reach a log.
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from fondation.cli.output import say
from fondation.config import Settings, is_loopback, load_settings
from fondation.domain.errors import FondationError
from fondation.logs import configure_logging

HostOption = Annotated[str | None, typer.Option(help="Address to listen on (default FONDATION_WEB_HOST, 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default FONDATION_WEB_PORT, 8000).")]


def _settings(host: str | None, port: int | None) -> Settings:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["web_host"] = host
    if port is not None:
        overrides["web_port"] = port
    settings = load_settings(**overrides)
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    return settings


def _server(settings: Settings, app: object) -> object:
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.web_host,
        port=settings.web_port,
        access_log=False,
        log_level=settings.log_level,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    return uvicorn.Server(config)


def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Run the web app and the JSON API (no worker: run `fondation worker` beside it) until Ctrl-C."""
    from fondation.web.app import create_app

    settings = _settings(host, port)
    server = _server(settings, create_app(settings))
    say(f"Fondation is listening on {settings.effective_public_url} (Ctrl-C stops it)")
    server.run()  # type: ignore[attr-defined]


def up(
    host: HostOption = None,
    port: PortOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs the embedded worker runs at once.")] = 1,
) -> None:
    """Run everything on this machine: the web app plus an embedded worker, on the embedded defaults.

    On a database without users it creates `admin` and prints a one-time login link (only when
    listening on a loopback address; otherwise create users with `fondation users add`).
    """
    from fondation.web.app import create_app
    from fondation.worker.runtime import Worker

    settings = _settings(host, port)
    app = create_app(settings)
    context = app.state.context
    if is_loopback(settings.web_host):
        first = context.accounts.first_admin()
        if first is not None:
            _, link = first
            say("Created the user 'admin'. Log in once with this link (valid 15 minutes, works once):")
            say(f"  {settings.effective_public_url}/login/link/{link}")
            say("then choose a password in Settings. A new link: `fondation users link admin`.")
    elif context.accounts.store.count_users() == 0:
        say("No user exists yet: create one with `fondation users add NAME --admin`.")
    worker = Worker(settings, concurrency=concurrency, serve_health=True)
    context.queue.add_enqueue_listener(worker.wake.set)  # a job submitted here starts at once
    server = _server(settings, app)
    failure: list[BaseException] = []

    def run_worker() -> None:
        """A worker that cannot start (its health port taken, its id in use) stops the web app too:
        a site that accepts jobs nobody will run is worse than a clear error."""
        try:
            worker.run()
        except BaseException as error:  # reported below, once the server has stopped
            failure.append(error)
            server.should_exit = True  # type: ignore[attr-defined]

    thread = threading.Thread(target=run_worker, name="embedded-worker", daemon=True)
    thread.start()
    say(f"Fondation is up on {settings.effective_public_url} with an embedded worker (Ctrl-C stops both)")
    try:
        server.run()  # type: ignore[attr-defined]
    finally:
        worker.request_stop()
        thread.join(timeout=settings.shutdown_grace_seconds + 10)
    if failure:
        raise FondationError(f"the embedded worker stopped: {failure[0]}")
