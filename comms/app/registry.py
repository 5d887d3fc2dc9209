"""Every package's tables in one metadata: what `create_all`, the migrations and the dry-run
copy (`comms simulate`) are given."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import comms.models
import comms.staff.models
import comms.verdict_tracking
import inbound.models
import telephony.models
import workflows.models

PACKAGES = (comms.models, comms.staff.models, inbound.models, telephony.models, workflows.models)

metadata: MetaData = SQLModel.metadata

comms.verdict_tracking.install()  # stored verdicts follow every ORM write
