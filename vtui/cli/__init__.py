"""The command line: `vtui VERB …` without the TUI, one module per verb family (main parses)."""
