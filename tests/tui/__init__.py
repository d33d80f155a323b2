"""The Textual UI driven by keys (Pilot and tmux), on the demo and on the real engines."""
