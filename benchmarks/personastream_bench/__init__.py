"""Benchmarks: scripts that measure the running stack and print what they measured."""
