"""The ``covalue`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from covalue import __version__
from covalue.cli import agree, codebooks, coding, data, incidents, projects, report, scale, serve

app = typer.Typer(
    name="covalue",
    help="Find, code and explain value co-creation and co-destruction in service incidents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"covalue {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """covalue command line."""


app.command("init")(projects.init)
app.command("summary")(projects.summary)
app.command("example")(projects.example)
app.command("demo")(projects.demo)
app.command("import")(data.import_command)
app.command("export")(data.export_command)
app.command("code")(coding.code)
app.command("train")(coding.train)
app.command("suggest")(coding.suggest_command)
app.command("evaluate")(coding.evaluate_command)
app.command("agree")(agree.agree)
app.command("consensus")(agree.consensus)
app.command("report")(report.report)
app.command("analyze")(report.analyze)
app.add_typer(codebooks.app, name="codebook")
app.add_typer(incidents.app, name="incidents")
app.command("serve")(serve.serve)
app.add_typer(serve.user_app, name="user")
app.add_typer(scale.app, name="scale")

if __name__ == "__main__":
    app()
