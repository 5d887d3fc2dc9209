"""Roster import from the spreadsheet compliance teams keep today (.csv and .xlsx)."""

from comms.roster.importer import ImportResult, RosterError, import_roster

__all__ = ["ImportResult", "RosterError", "import_roster"]
