"""The `c1iam` command (install with `pip install 'c1iam[cli]'`).

Its dependencies (click, rich) are an optional extra, so that the library stays lean;
only this package imports them.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run the command; exit codes: 0 done, 1 failure, 2 usage, 3 findings, 130 interrupted."""
    try:
        import click

        from ._app import EXIT_INTERRUPTED, quiet_stdout
        from ._main import cli
    except ImportError as error:
        if error.name not in ("click", "rich"):
            raise
        print("c1iam: the command needs its extra: pip install 'c1iam[cli]'", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        # Not click's standalone mode: it would turn Ctrl-C into "Aborted!" and exit 1.
        result = cli.main(prog_name="c1iam", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except (KeyboardInterrupt, click.Abort):
        print("c1iam: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # while click was not looking: at exit
        quiet_stdout()
        raise SystemExit(0) from None
    # `--help` and `--version` return their exit code instead of raising.
    raise SystemExit(result if isinstance(result, int) else 0)
