"""The command line: parses options, wires the adapters, maps errors to messages and exit codes.

No logic lives here: each subcommand is a module of ``hubpub.commands`` (pre-commit's shape),
imported only when that command runs (:class:`LazyGroup`): ``hubpub validate`` never loads the
registry client, the docker SDK or rich, and ``hubpub --version`` loads none of them. This
module is the one place that turns a :class:`~hubpub.errors.HubpubError` into one line on
stderr and an exit code. A traceback is shown only with ``--debug``.

Exit codes follow Terraform's ``-detailed-exitcode`` (docs/architecture.md#errors-and-exit-codes):
0 success, 1 error, and with ``--detailed-exitcode`` 2 means "changes present". Click's own
usage errors exit 2 by default; they exit 1 here so that 2 keeps one meaning for scripts that
read it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click

from hubpub import __version__
from hubpub.errors import HubpubError
from hubpub.github import annotate
from hubpub.logs import configure_logging, mask

# hubpub uses no pydantic plugin; without this, pydantic scans every installed package's entry
# points (importlib.metadata) the first time a model class is made: about 10 ms per start in
# hubpub's development environment, more where many packages are installed.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


# Subcommand name -> module of hubpub.commands exposing ``command``.
COMMANDS = ("validate", "tags", "schema", "inspect", "plan", "apply", "build")


class LazyGroup(click.Group):
    """A group whose subcommands are imported on demand: ``hubpub.commands.<name>``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"hubpub.commands.{cmd_name}")
        command: click.Command = module.command
        # `hubpub plan --debug` as well as `hubpub --debug plan`: CI logs are read by people
        # who add the flag at the end of the line they already have.
        if not any(param.name == "debug" for param in command.params):
            command.params.append(
                click.Option(
                    ["--debug"],
                    is_flag=True,
                    expose_value=False,
                    callback=_debug_callback,
                    help="Log every step (secrets masked) and show tracebacks.",
                )
            )
        self.commands[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        known = self.list_commands(ctx)
        if name and not name.startswith("-") and name not in known:
            # click suggests among the commands already loaded, which here is none of them.
            import difflib  # lazy: 2-4 ms of every start, for a mistyped command only

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="hubpub")
@click.option(
    "--debug",
    is_flag=True,
    envvar="HUBPUB_DEBUG",
    help="Log every step (secrets masked) and show tracebacks.",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The hubpub config file, for every command that reads one (or give it after the "
    "command).  [default: hubpub.toml]",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_path: Path | None) -> None:
    """Declarative publishing of container images.

    hubpub reads hubpub.toml, computes the tags each image should carry from the git state,
    asks the registries what they hold, and plans then applies the fewest builds, pushes and
    registry-side tag operations that make them so.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["config_path"] = config_path
    configure_logging(debug)


def _debug_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.find_root().obj.get("debug"):
        ctx.find_root().obj["debug"] = True
        configure_logging(True)


# click >= 8.2 raises this for a bare `hubpub`; older versions print the help themselves.
_NO_ARGS_IS_HELP: type[click.UsageError] | tuple[()] = getattr(
    click.exceptions, "NoArgsIsHelpError", ()
)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("HUBPUB_DEBUG", "") not in ("", "0", "false")


def _print_traceback() -> None:
    click.echo(mask(traceback.format_exc()), err=True, nl=False)


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    lines = message.splitlines() or [""]
    # In GitHub Actions, each error is also an annotation on the file and line it names.
    annotate(os.environ, "error", lines)
    for line in lines:
        click.echo(f"hubpub: error: {line}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run hubpub and exit. ``argv`` None means the process's own command line (``python -m
    hubpub``, the ``hubpub`` script): then, once the output is flushed, the process ends at
    once (``os._exit``) instead of tearing down every imported module one by one, which costs
    0.2 to 0.35 s after a plan or an apply (docs/benchmarks.md). Everything hubpub opens is
    closed before (connections, thread pools, the engine's client, progress displays). Called
    with a list (tests, embedding), it raises ``SystemExit`` as usual."""
    try:
        _run(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        if argv is not None:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
        if not isinstance(exc.code, int | None):
            click.echo(str(exc.code), err=True)  # what sys.exit("text") would print
        _exit_now(code)
    raise AssertionError("unreachable: _run always exits")  # pragma: no cover


def _exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _run(args: list[str]) -> NoReturn:
    debug = _debug_requested(args)
    try:
        code = cli.main(args=args, prog_name="hubpub", standalone_mode=False)
    except HubpubError as exc:
        if debug:
            _print_traceback()
        _fail(mask(str(exc)), exc.exit_code)
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.format_message())  # bare `hubpub`: the help, as asked, not an error
        sys.exit(EXIT_OK)
    except click.exceptions.Abort:
        _fail("interrupted", EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        _fail(f"{exc.format_message()}{hint}", EXIT_ERROR)
    except Exception as exc:
        # A bug, not a user error: still one line without --debug, but say how to see more.
        logging.getLogger("hubpub").debug("unexpected error", exc_info=True)
        if debug:
            _print_traceback()
            _fail(mask(f"internal error: {type(exc).__name__}: {exc}"))
        _fail(f"internal error: {type(exc).__name__} (run with --debug for details and report it)")
    sys.exit(code if isinstance(code, int) else EXIT_OK)
