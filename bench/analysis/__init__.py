"""Judging results, torch-free and print-free: run-level statistics, comparisons with verdicts, merged tables
of many reports, and the baseline sets of each hardware fingerprint."""
