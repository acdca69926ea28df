"""Tests of the sark.native facade, native and fallback."""
