"""Staff accounts: who may sign in to the workspace, with which role, and their sessions."""
