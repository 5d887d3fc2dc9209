"""Tables of the inbound package (none yet)."""
