"""Time to accuracy: one row per recipe and phase."""

from __future__ import annotations

from rich.table import Table

from bench.render.common import console


def render_tta(document, out=None) -> None:
    out = out or console()
    table = Table(title=f"time to accuracy on {document.device} ({document.data}; target "
                        f"{document.target} %, fine-tune {document.finetune_target} %)", title_justify="left")
    for column in ("recipe", "phase", "reached", "wall s", "epochs", "accuracy %"):
        table.add_column(column, justify="left" if column in ("recipe", "phase") else "right")
    for result in document.recipes:
        for phase, row in (("scratch", result.scratch), ("pretrain", result.pretrain), ("finetune", result.finetune)):
            table.add_row(result.recipe.name, phase, "yes" if row.reached else "[red]no[/]", f"{row.wall_s:.1f}",
                          f"{row.epochs:.2f}", f"{row.accuracy:.2f}")
    out.print(table)
