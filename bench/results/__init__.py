"""The records a measurement produces and the files that hold them, torch-free: cases, run and case records,
the report model (its JSON), the ceilings and their cache, the journal of a run in progress."""
