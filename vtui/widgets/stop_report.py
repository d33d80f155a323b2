"""The triage pane: why the selected node stopped, and its last log lines."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from vtui.services.triage import StopReport


class StopReportPane(Static):
    DEFAULT_CSS = """
    StopReportPane { height: auto; max-height: 18; border: round $warning; border-title-align: left; padding: 0 1; }
    """

    def show(self, report: StopReport | None) -> None:
        if report is None:
            self.border_title = "why it stopped"
            self.update(Text("nothing stopped is selected", style="dim"))
            return
        self.border_title = f"why {report.node.name} stopped  (U starts it, l shows its whole log)"
        text = Text()
        text.append(report.why, style="bold")
        if report.when:
            text.append(f"  at {report.when} UTC")
        for fact in report.facts:
            text.append(f"\n{fact}")
        if report.problem:
            text.append(f"\n{report.problem}", style="yellow")
        if report.log:
            text.append("\nlast log lines:", style="dim")
            for line in report.log:
                text.append(f"\n  {line}")  # Text: log lines are never markup
        self.update(text)
