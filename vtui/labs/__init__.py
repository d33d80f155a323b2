"""Labs: topology files (containerlab's, with vtui's additions) deployed as nodes and links,
inspected, changed live, destroyed and drawn. No UI here: the CLI and the TUI both drive them."""
