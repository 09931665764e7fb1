"""The AWS deployment as code: a CloudFormation template and the commands that drive it.

`template` builds the template as data (no AWS SDK needed); `deploy` creates, updates,
inspects and deletes the stack with boto3, which it imports only when called.
"""

from __future__ import annotations

from covidlake.aws.deploy import deploy, destroy, status
from covidlake.aws.template import build_template, emit_template, render

__all__ = ["build_template", "deploy", "destroy", "emit_template", "render", "status"]
