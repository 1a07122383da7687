"""`lifecycle logs …`: importing access logs, saving a source's columns, drawing a quarter."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from ..actors import CLI
from ..errors import DomainError
from . import imports, services

logs = AppGroup("logs", help="端末のアクセスログ (access logs) と検証.")


def _fail(exc: DomainError):
    lines = [exc.message]
    fields = getattr(exc, "fields", None) or {}
    lines += [f"  {name}: {message}" for name, message in fields.items() if message not in lines[0]]
    raise click.ClickException("\n".join(lines)) from None


@logs.command("import")
@click.option("--source", default=imports.DEFAULT_SOURCE, show_default=True, help="列の対応付けを登録した取込み元")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_command(source, file):
    """Imports FILE (CSV, UTF-8 or Shift_JIS) and runs the automatic checks; bad lines are listed."""
    try:
        with open(file, "rb") as handle:
            result = imports.import_log(CLI, handle, file.rsplit("/", 1)[-1], source)
    except DomainError as exc:
        _fail(exc)
    for line, reason in result.rejected:
        click.echo(f"{line}行目: {reason}", err=True)
    log_import = result.log_import
    if log_import.rejected > len(result.rejected):
        click.echo(f"（ほか {log_import.rejected - len(result.rejected):,} 行）", err=True)
    click.echo(f"imported {log_import.rows} rejected {log_import.rejected} id {log_import.id} sha256 {log_import.sha256}")


@logs.command("source")
@click.argument("name")
@click.option("--column", "columns", multiple=True, metavar="FIELD=HEADER",
              help=f"項目と列名の対応（項目: {', '.join(imports.FIELDS)}）。項目ごとに1回ずつ指定")
def source_command(name, columns):
    """Saves which CSV header holds each field for the source NAME (once per source)."""
    mapping = {}
    for pair in columns:
        key, sep, header = pair.partition("=")
        if not sep:
            raise click.ClickException(f"--column は 項目=列名 の形で指定してください（{pair}）。")
        mapping[key.strip()] = header
    try:
        source = imports.define_source(CLI, name, mapping)
    except DomainError as exc:
        _fail(exc)
    click.echo(f"source {source.name}: {json.dumps(imports.source_mapping(source), ensure_ascii=False)}")


@logs.command("draw")
@click.argument("quarter")
@click.option("--parameters", type=click.Path(dir_okay=False, writable=True),
              help="公開用の抽出パラメータ（JSON）の書出し先。監査ログの出力と合わせてオフライン検証に使う")
def draw_command(quarter, parameters):
    """Draws QUARTER's review (e.g. 2026Q3) from a newly signed checkpoint."""
    try:
        review = services.open_review(CLI, quarter)
    except DomainError as exc:
        _fail(exc)
    published = services.draw_parameters(review)
    if parameters:
        with open(parameters, "w", encoding="utf-8") as handle:
            json.dump(published, handle, ensure_ascii=False, indent=1)
    click.echo(f"review {review.id} seed {review.seed} checkpoint {review.checkpoint_id} "
               f"departments {len(published['departments'])}")
