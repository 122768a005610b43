"""The whole command: the group with every subcommand registered, `--demo` on each."""

from __future__ import annotations

from . import _audit_command, _commands
from ._app import cli, install_demo_option

__all__ = ["cli"]

del _audit_command, _commands  # imported for the commands they register
install_demo_option(cli)
