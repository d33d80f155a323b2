"""Helpers the tests share: the SSH lab of netns hosts, tmux drivers, a crowded neighbourhood."""
