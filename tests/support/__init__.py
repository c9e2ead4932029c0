"""Reusable test support: local fakes and servers shared by several test suites."""
