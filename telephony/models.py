"""Tables of the telephony package (none yet)."""
