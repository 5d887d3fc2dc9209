"""The keypad menus are data: every choice's prompt and action exist, the spoken menu offers
each digit, and the webhooks know no digit of their own."""

from __future__ import annotations

import ast
import inspect
import re
import xml.etree.ElementTree as ET

import pytest

from comms.settings import Settings
from telephony import menus, render, webhooks
from telephony.ivr import org_context
from telephony.render import voice_path

ALL = [menus.IVR_MENU, menus.REMINDER_MENU]
MENU_PROMPT = {"ivr_menu": "ivr_menu", "reminder_menu": "reminder_menu"}


@pytest.mark.parametrize("menu", ALL, ids=lambda m: m.kind)
def test_each_choice_is_complete(menu: menus.Menu) -> None:
    from comms.templating import templates_dir

    spoken = (templates_dir() / voice_path(MENU_PROMPT[menu.kind], "en")).read_text()
    for digits, choice in menu.choices.items():
        assert re.search(rf"press {digits}\b", spoken), (menu.kind, digits)
        if choice.action is not None:
            assert choice.action in menus.ACTIONS
        for prompt in (choice.prompt, choice.no_agent_prompt):
            if prompt is not None:
                assert (templates_dir() / voice_path(prompt, "en")).is_file(), prompt


def test_the_webhooks_hard_code_no_digit() -> None:
    tree = ast.parse(inspect.getsource(webhooks))
    digits = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isdigit()
    ]
    assert digits == []


def test_a_menu_is_read_from_its_data(settings: Settings) -> None:
    """A menu where 7 puts the caller through and 5 says goodbye: no code knows the digits."""
    menu = menus.Menu(
        "test_menu",
        {
            "7": menus.Choice("callback_task", "call_back", connect=True),
            "5": menus.Choice("renewal_ack"),
        },
    )
    from comms.models import Vendor

    def again(_response: object, intro: bool) -> str:
        return f"again intro={intro}"

    def answer(digits: str, connect: bool) -> str:
        return menus.answer(
            menu,
            digits,
            Vendor(name="V"),
            org_context(settings),
            again=again,
            connect=connect,
            settings=settings,
        )

    def spoken(twiml: str) -> list[str]:
        return [s.text or "" for s in ET.fromstring(twiml).iter("Say")]

    def said(name: str) -> str:
        return render.voice(name, org_context(settings))

    dialed = answer("7", True)
    assert ET.fromstring(dialed).find("Dial") is not None
    assert spoken(dialed) == [said("connecting")]
    closed = answer("7", False)
    assert ET.fromstring(closed).find("Dial") is None
    assert spoken(closed) == [said("callback_task"), said("goodbye")]
    assert spoken(answer("5", True)) == [said("renewal_ack"), said("goodbye")]
    assert answer("3", True) == "again intro=False"  # not on this menu: invalid, then the menu
    assert menus.acts(menu, "7") and not menus.acts(menu, "5") and not menus.acts(menu, "3")
