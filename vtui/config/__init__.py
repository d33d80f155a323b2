"""vtui's files: config.toml (settings), hosts.toml (hosts), read by one schema mechanism (schema)."""
