"""Results across runs: tables for experiments/ and for comparing runs."""
