"""Helpers shared by test modules: plain Python, no tests here (pytest collects nothing from
this package). The services the tests run against live in tests/fixtures."""
