"""Which workflow a case runs: its named ladder (`config/workflows/`), or for a campaign's
case the one-step workflow built from the campaign row."""

from __future__ import annotations

from sqlmodel import Session

from comms.models import Case
from workflows.definitions import Step, Workflow, get_workflow
from workflows.models import Campaign


def campaign_workflow(campaign: Campaign) -> Workflow:
    return Workflow(
        name="campaign",
        trigger="campaign",
        steps=[
            Step(
                id="campaign",
                channel=campaign.channel,
                to=list(campaign.recipients or ["vendor"]),
                template=campaign.template,
                delay="0 days",
            )
        ],
    )


def workflow_for(session: Session, case: Case) -> Workflow:
    if case.campaign_id:
        campaign = session.get(Campaign, case.campaign_id)
        if campaign is None:
            raise LookupError(f"case {case.id}: campaign {case.campaign_id} is gone")
        return campaign_workflow(campaign)
    return get_workflow(case.workflow)
