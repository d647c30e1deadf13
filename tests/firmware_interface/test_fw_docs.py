"""Docs stay true: doctest examples run, every CLI command and option has help, the protocol names every message."""

import doctest
import pathlib

import click
import pytest

import firmware_interface
from edge.commands.device import device
from firmware_interface import driver, framing, synthesis
from firmware_interface.codes import MessageType


@pytest.mark.parametrize("module", [framing, driver, synthesis], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_every_cli_command_and_option_is_documented():
    for name, command in device.commands.items():
        assert command.help, f"command {name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_protocol_document_describes_every_message_type():
    text = (pathlib.Path(firmware_interface.__file__).parent / "PROTOCOL.md").read_text()
    for message_type in MessageType:
        assert f"| 0x{message_type.value:02x} | {message_type.name} |" in text
