"""Console sessions: async byte streams with resize, independent of the UI."""
