"""Import every module that defines tables, so metadata and migrations see them all."""

import comms.models  # noqa: F401
import inbound.models  # noqa: F401
import telephony.models  # noqa: F401
import workflows.models  # noqa: F401
