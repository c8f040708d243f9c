//! Raw sweep-file structures (in progress).
