"""Roster import from the spreadsheet compliance teams keep today (.csv and .xlsx)."""

from comms.roster.importer import RosterError, import_roster
from comms.roster.result import ImportResult

__all__ = ["ImportResult", "RosterError", "import_roster"]
