"""The CLI, backends, consoles and remote hosts against the real engines of the test bed."""
