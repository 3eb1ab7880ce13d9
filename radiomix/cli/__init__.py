"""``radiomix`` command line: a thin shell over the public API (extract, merge, train, predict, evaluate,
report, robustness, ibsi, demo)."""

from __future__ import annotations

import sys

import click

from .. import __version__
from .console import console, one_line, safe_text

__all__ = ["main", "InputError", "INPUT_ERRORS"]


class InputError(click.ClickException):
    """Bad input (a table, a config, a model file, an output path): one line, exit status 2."""

    exit_code = 2


#: Errors that come from what the user gave radiomix, reported in one line with exit status 2.
INPUT_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError,
                NotADirectoryError, FileExistsError, UnicodeDecodeError)


#: Control characters (C0, DEL, C1) and Unicode bidirectional overrides: a text read from a file (a model's
def _exit_interrupted(ctx=None):
    click.echo("radiomix: interrupted; no partial output was left as if complete", err=True)
    sys.exit(130)


class _clean_warnings:
    """While a command runs, a Python warning that reaches the console prints as one clean line (``warning
    (Category): message``; a StudyNote as ``note: message``), each distinct one once: never the
    ``/path/file.py:71: Category: ...`` form with its source line. Commands that count warnings print them
    themselves (with ``(xN)``); this catches the rest (libraries' deprecations, layout notes)."""

    def __enter__(self):
        import warnings

        self._old, seen = warnings.showwarning, set()

        def show(message, category, filename, lineno, file=None, line=None):
            key = (category.__name__, str(message))
            if key in seen:
                return
            seen.add(key)
            label = "note" if category.__name__ == "StudyNote" else f"warning ({category.__name__})"
            # control characters and markup of a message (a column name from a file) shown inert
            console().print(f"[yellow]{label}:[/] {safe_text(one_line(str(message)))}", highlight=False, soft_wrap=True)
        warnings.showwarning = show
        return self

    def __exit__(self, *exc):
        import warnings

        warnings.showwarning = self._old
        return False


class RadiomixGroup(click.Group):
    """The ``radiomix`` group: input errors become one line with exit status 2 (the traceback only with
    ``--debug``), Ctrl-C ends with status 130 after the command has cleaned up its partial output, also when a
    library swallowed the interrupt (:mod:`radiomix.interrupts`) or it came while click parsed the arguments."""

    def main(self, *args, **kwargs):
        from ..interrupts import catch_interrupts, interrupted

        with catch_interrupts(), _clean_warnings():
            try:
                rv = super().main(*args, standalone_mode=False, **kwargs)
            except click.exceptions.Abort as err:
                if isinstance(err.__context__, KeyboardInterrupt) or interrupted():
                    _exit_interrupted()
                click.echo("Aborted!", err=True)
                sys.exit(1)
            except click.ClickException as err:
                err.show()
                sys.exit(err.exit_code)
            except KeyboardInterrupt:
                _exit_interrupted()
            if interrupted():
                _exit_interrupted()
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        from ..interrupts import interrupted

        debug = bool(ctx.params.get("debug"))
        try:
            try:
                return super().invoke(ctx)
            except click.exceptions.Exit:
                raise
            except Exception:
                if interrupted():  # a library turned Ctrl-C into its own error (XGBoostError is a ValueError)
                    _exit_interrupted()
                raise
        except click.exceptions.Exit:
            raise
        except click.UsageError:
            raise
        except click.ClickException as err:
            if debug and err.__cause__ is not None:
                raise err.__cause__ from None
            err.exit_code = 2 if err.exit_code == 1 else err.exit_code
            err.message = one_line(err.message)
            raise
        except KeyboardInterrupt:
            _exit_interrupted()
        except INPUT_ERRORS as err:
            if debug:
                raise
            raise InputError(f"{one_line(err)} (--debug shows the traceback)") from err


#: the installed distributions whose versions ``radiomix --version`` prints (read from package metadata, so
#: nothing heavy is imported)
VERSION_DISTRIBUTIONS = ("numpy", "pandas", "scikit-learn", "imbalanced-learn", "xgboost", "pyradiomics-bhklab",
                         "pyradiomics", "SimpleITK", "skops", "shap")


def _print_version(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in VERSION_DISTRIBUTIONS:
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    click.echo(f"radiomix {__version__}")
    click.echo("with " + ", ".join(found))
    ctx.exit()


@click.group(cls=RadiomixGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show radiomix's version and those of the libraries that decide its numbers, and exit.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def main(debug):
    """radiomix: images + masks -> radiomic features -> harmonized, imputed, selected -> nested-CV models.

    \b
    Start with:  radiomix demo --out radiomix_demo
    """




def _register():
    from . import benchmark, extract, report, robustness, train

    for module in (train, extract, report, robustness, benchmark):
        module.register(main)


_register()
