"""`lifecycle logs …`: a source's columns saved once, an import listing its bad lines, a draw."""
from __future__ import annotations

import json

from lifecycle.terminals import services as terminals


def test_source_import_and_draw_from_the_command_line(runner, world, tmp_path):
    terminals.register_terminal(world["admin"], {"code": "zeimu-cs01", "department": "zeimu", "location": "税務課"})
    saved = runner.invoke(args=["logs", "source", "cs", "--column", "accessed_at=日時", "--column", "terminal=端末",
                                "--column", "operator=操作者", "--column", "business=事務", "--column", "operation=区分",
                                "--column", "records=件数"])
    assert saved.exit_code == 0, saved.output
    refused = runner.invoke(args=["logs", "source", "bad", "--column", "when"])
    assert refused.exit_code != 0 and "項目=列名" in refused.output
    log = tmp_path / "log.csv"
    log.write_text("日時,端末,操作者,事務,区分,件数\n"
                   + "".join(f"2026-{m:02d}-0{d} 10:00:00,ZEIMU-CS01,registrar,自動車税,照会,1\n"
                             for m in (7, 8, 9) for d in (1, 2))
                   + "2026-07-03 10:00:00,ZEIMU-CS01,registrar,自動車税,消去,1\n", encoding="cp932")
    imported = runner.invoke(args=["logs", "import", "--source", "cs", str(log)])
    assert imported.exit_code == 0, imported.output
    assert "imported 6 rejected 1" in imported.output and "8行目" in imported.output
    again = runner.invoke(args=["logs", "import", "--source", "cs", str(log)])
    assert again.exit_code != 0 and "取込み済み" in again.output
    published = tmp_path / "draw.json"
    drawn = runner.invoke(args=["logs", "draw", "2026Q3", "--parameters", str(published)])
    assert drawn.exit_code == 0, drawn.output
    assert json.loads(published.read_text(encoding="utf-8"))["departments"][0]["department"] == "zeimu"
