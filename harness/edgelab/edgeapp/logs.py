"""One log format for every store service: ``<UTC time> <LEVEL> <logger>: <message>``.

2026-03-01T10:15:02.341Z INFO  orders: order 4523-3fa91c rung up: 3 items, $18.47 ...
"""

from __future__ import annotations

import logging
import sys
import time

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = "WARN" if record.levelno == logging.WARNING else record.levelname
        line = f"{stamp}.{int(record.msecs):03d}Z {level:<5} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def set_level(name: str) -> None:
    logging.getLogger().setLevel(_LEVELS[name])


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"
