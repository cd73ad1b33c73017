"""Reading what hubpub writes for GitHub Actions, the way the runner reads it."""

from __future__ import annotations

import re


def parse_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``name=value`` or ``name<<DELIM`` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        match = re.fullmatch(r"([A-Za-z_][\w-]*)<<(.+)", line)
        if match:
            name, delimiter = match.groups()
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            else:
                raise AssertionError(f"output {name}: delimiter {delimiter} never closed")
            outputs[name] = "\n".join(value)
        else:
            name, sep, value_ = line.partition("=")
            assert sep, f"not an output line: {line!r}"
            outputs[name] = value_
    return outputs
