"""Logging set-up shared by the dashboard and the CLI."""

from __future__ import annotations

import logging

# httpx logs every request's full URL at INFO: signed Storage URLs carry a token that plays the video
# for up to an hour, so request lines stay out of the logs unless they are warnings.
QUIET = ("httpx", "httpcore", "hpack")


def configure_logging(level: str, handlers: list[logging.Handler] | None = None) -> None:
    if handlers:  # a handler that formats on its own (rich) needs only the message
        logging.basicConfig(level=level, handlers=handlers, format="%(message)s")
    else:
        logging.basicConfig(level=level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
