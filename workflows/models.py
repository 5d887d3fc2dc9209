"""Tables of the workflows package (none yet)."""
