"""Labs from the keyboard: T opens the labs screen, n deploys a containerlab file after showing its
steps, the progress view lists each step, the topology is drawn with the links' state, enter on a
node opens its console, x destroys the lab after asking; the engines are the referee."""

from __future__ import annotations

from pathlib import Path

import docker
from rich.text import Text
from textual.widgets import DataTable, Input, Static

from tests.conftest import RUN, wait_for
from tests.engines.test_labs import header, of_lab, pings
from tests.tui.test_tui_actions import SIZE, docker_app
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.consoles import ConsoleScreen
from vtui.screens.labs import LabsScreen, ProgressScreen
from vtui.screens.links import LinksScreen
from vtui.screens.prompt import PromptScreen


def text_of(widget: Static) -> str:
    shown = widget.render()
    return shown.plain if isinstance(shown, Text) else str(shown)


async def test_a_lab_is_deployed_drawn_opened_and_destroyed_from_the_labs_screen(
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    name = f"tui{RUN}"
    path = tmp_path / "pair.clab.yml"
    path.write_text(header(name) + """\
  nodes:
    r1:
    r2:
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      ipv4: [10.95.0.1/30, 10.95.0.2/30]
""")
    app = docker_app()
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.press("T")
            await wait_for(pilot, lambda: isinstance(app.screen, LabsScreen))
            labs = app.screen
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
            app.screen.query_one(Input).value = str(path)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=20)
            asked = text_of(app.screen.query_one("#detail", Static))
            assert f"+ node r1 (container clab-{name}-r1 on local" in asked and "+ link r1:eth1 — r2:eth1" in asked
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.finished, timeout=60)
            assert f"lab {name} deployed: 3 steps" in text_of(app.screen.query_one("#progress-state", Static))
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is labs and "[r1] eth1 ──── eth1 [r2]  up" in text_of(
                labs.query_one("#lab-drawing", Static)), timeout=20)
            assert pings(docker_client, f"clab-{name}-r1", "10.95.0.2")

            parts = labs.query_one("#lab-parts", DataTable)
            await pilot.press("enter")  # from the labs list to its parts
            await wait_for(pilot, lambda: app.focused is parts)
            await pilot.press("enter")  # r1, the first part: its shell
            await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen), timeout=20)
            await pilot.press("ctrl+right_square_bracket")
            await wait_for(pilot, lambda: app.screen is labs or not isinstance(app.screen, ConsoleScreen))
            if app.screen is not labs:
                await pilot.press("T")
            await wait_for(pilot, lambda: isinstance(app.screen, LabsScreen))
            parts.focus()
            await pilot.press("home", "down", "down", "enter")  # the link, after the two nodes
            await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen) and app.screen.selected is not None)
            assert isinstance(app.screen, LinksScreen) and app.screen.selected is not None
            assert app.screen.selected.record.lab == name  # the cursor on the lab's link
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is labs)

            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=20)
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.finished, timeout=60)
            assert f"lab {name} destroyed" in text_of(app.screen.query_one("#progress-state", Static))
            assert of_lab(docker_client, name) == []
    finally:
        for container in docker_client.containers.list(all=True, filters={"label": f"vtui.lab={name}"}):
            container.remove(force=True)
