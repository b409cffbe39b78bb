"""Files: atomic writers for every result tsr writes, and progress bars for long reads."""
