"""Tests of pure code and of the test bed's own bookkeeping; most need no engine."""
