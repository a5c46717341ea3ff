"""Pure rules: validation, time and bitmap math, slot search. Imports no I/O library."""
