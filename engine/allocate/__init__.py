"""Pure arithmetic, no I/O: the allocation methods and the steps' pipeline."""
