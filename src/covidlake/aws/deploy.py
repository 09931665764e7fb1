"""Create, update, inspect and delete the covidlake stack with boto3 CloudFormation.

Progress (the stack's new events, and a spinner on a terminal) goes to stderr; `status` prints
the stack's status and outputs to stdout. AWS failures become `DeployError`s that say what
happened and what to do. boto3 is imported only when one of these functions runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from covidlake import log
from covidlake.aws.template import Json, build_template, check_names, render
from covidlake.errors import DeployError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
TAGS = [{"Key": "project", "Value": "covidlake"}]
MAX_TEMPLATE_BODY = 51_200  # bytes CloudFormation accepts inline (larger needs TemplateURL)
SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
NOT_UPDATABLE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"}
CREDENTIAL_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                    "UnrecognizedClientException", "SignatureDoesNotMatch",
                    "InvalidSignatureException"}


def client(region: str | None) -> Any:
    """A CloudFormation client, or a DeployError naming what is missing."""
    try:
        import boto3
        from botocore.exceptions import NoRegionError
    except ImportError as exc:
        raise DeployError("the AWS SDK (boto3) is not installed",
                          hint="pip install 'covidlake[aws]'") from exc
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        raise DeployError("no AWS credentials found",
                          hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or run `aws configure`")
    try:
        return session.client("cloudformation")
    except NoRegionError as exc:
        raise DeployError("no AWS region given",
                          hint="pass --region or set AWS_DEFAULT_REGION") from exc


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore's exceptions into DeployErrors that start with `what`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError as exc:
        raise DeployError(f"{what}: no AWS credentials found",
                          hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                          ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", str(exc))
        hint = None
        if code in CREDENTIAL_CODES:
            hint = "the AWS credentials are invalid or expired; refresh them"
        elif code in {"AccessDenied", "AccessDeniedException"}:
            hint = "the caller needs CloudFormation, IAM, S3, Glue, Athena, EC2 and " \
                   "Redshift Serverless permissions to deploy this stack"
        raise DeployError(f"{what}: {code}: {message}", hint=hint) from exc
    except BotoCoreError as exc:
        raise DeployError(f"{what}: {exc}",
                          hint="check the network, --region and AWS_ENDPOINT_URL") from exc


def describe(cf: Any, stack: str) -> Json | None:
    """The stack's description, or None when no such stack exists."""
    from botocore.exceptions import ClientError

    try:
        return dict(cf.describe_stacks(StackName=stack)["Stacks"][0])
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise


def not_found(stack: str, cf: Any) -> DeployError:
    return DeployError(f"stack {stack!r} not found in region {cf.meta.region_name}",
                       hint="`covidlake aws deploy` creates it; check --stack-name and --region")


def unchanged(cf: Any, stack: Json, template: Json) -> bool:
    """Whether the deployed template and parameter values are the ones we would send."""
    body = cf.get_template(StackName=stack["StackId"],
                           TemplateStage="Original")["TemplateBody"]
    deployed = json.loads(body) if isinstance(body, str) else body
    if json.loads(json.dumps(deployed)) != json.loads(render(template)):
        return False
    defaults = {k: str(p.get("Default", "")) for k, p in template["Parameters"].items()}
    current = {p["ParameterKey"]: p.get("ParameterValue", "")
               for p in stack.get("Parameters", [])}
    return all(current.get(k, v) == v for k, v in defaults.items())


def event_ids(cf: Any, stack_id: str) -> set[str]:
    """The ids of the events the stack already has (so that only new ones print)."""
    page = cf.describe_stack_events(StackName=stack_id)
    return {e["EventId"] for e in page["StackEvents"]}


def new_events(cf: Any, stack_id: str, seen: set[str]) -> list[Json]:
    """Events not seen yet, oldest first; marks them seen."""
    fresh: list[Json] = []
    for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for event in page["StackEvents"]:  # newest first
            if event["EventId"] in seen:
                break
            fresh.append(event)
        else:
            continue
        break
    seen.update(e["EventId"] for e in fresh)
    return fresh[::-1]


def event_line(event: Json) -> str:
    when = event.get("Timestamp")
    clock = when.strftime("%H:%M:%S") if hasattr(when, "strftime") else str(when or "")
    text = (f"{clock} {event.get('ResourceStatus', ''):<28} "
            f"{event.get('LogicalResourceId', '')} ({event.get('ResourceType', '')})")
    reason = event.get("ResourceStatusReason")
    return f"{text}: {reason}" if reason else text


@contextmanager
def spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A Rich status line on stderr when it is a terminal (and not --quiet)."""
    if not log._bars_enabled():
        yield lambda _status: None
        return
    with log.stderr.status(text) as status:
        yield lambda state: status.update(f"{text}: {state}")


def wait(cf: Any, stack_id: str, name: str, action: str, seen: set[str], *,
         poll: float, timeout: float) -> str:
    """Poll until the stack leaves *_IN_PROGRESS; print new events; fail unless it succeeded."""
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    with spinner(f"{action} stack {name}") as show:
        while True:
            state = cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
            for event in new_events(cf, stack_id, seen):
                log.info(event_line(event))
                reason = event.get("ResourceStatusReason", "")
                if event.get("ResourceStatus", "").endswith("_FAILED") and reason \
                        and "cancelled" not in reason:
                    failures.append(f"{event.get('LogicalResourceId')}: {reason}")
            show(state)
            if not state.endswith("_IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise DeployError(f"stack {name!r} is still {state} after {timeout:.0f} s",
                                  hint="CloudFormation carries on; follow it with "
                                       "`covidlake aws status`")
            time.sleep(poll)
    if state not in SUCCESS:
        cause = f"; first failure: {failures[0]}" if failures else ""
        hint = (f"`covidlake aws destroy --stack-name {name}`, fix the cause, deploy again"
                if state in NOT_UPDATABLE else "fix the cause and deploy again")
        raise DeployError(f"stack {name!r} ended in {state}{cause}", hint=hint)
    return str(state)


def deploy(stack_name: str = "covidlake", region: str | None = None,
           bucket_name: str | None = None, *, template: Json | None = None,
           poll: float = 5.0, timeout: float = 3600.0) -> str:
    """Create the stack, or update it; "unchanged" when there is nothing to update."""
    check_names(stack_name, bucket_name)
    template = template if template is not None else build_template(stack_name, bucket_name)
    body = render(template, compact=True)
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise DeployError(f"the template is {len(body.encode())} bytes, over "
                          f"CloudFormation's inline limit of {MAX_TEMPLATE_BODY}",
                          hint="upload it to S3 and deploy it with a TemplateURL")
    cf = client(region)
    from botocore.exceptions import ClientError

    with aws_errors(f"deploying stack {stack_name!r}"):
        current = describe(cf, stack_name)
        if current is None:
            stack_id = cf.create_stack(StackName=stack_name, TemplateBody=body,
                                       Capabilities=CAPABILITIES, OnFailure="ROLLBACK",
                                       Tags=TAGS)["StackId"]
            return wait(cf, stack_id, stack_name, "creating", set(), poll=poll,
                        timeout=timeout)
        state, stack_id = current["StackStatus"], current["StackId"]
        if state in NOT_UPDATABLE:
            raise DeployError(f"stack {stack_name!r} is {state} and cannot be updated",
                              hint=f"`covidlake aws destroy --stack-name {stack_name}`, "
                                   "then deploy again")
        if state.endswith("_IN_PROGRESS"):
            raise DeployError(f"stack {stack_name!r} is busy ({state})",
                              hint="wait for it to finish: `covidlake aws status`")
        if unchanged(cf, current, template):
            log.info(f"stack {stack_name}: no changes to deploy ({state})")
            return "unchanged"
        seen = event_ids(cf, stack_id)
        try:
            cf.update_stack(StackName=stack_id, TemplateBody=body,
                            Capabilities=CAPABILITIES, Tags=TAGS)
        except ClientError as exc:
            if "No updates are to be performed" in str(exc):
                log.info(f"stack {stack_name}: no changes to deploy ({state})")
                return "unchanged"
            raise
        return wait(cf, stack_id, stack_name, "updating", seen, poll=poll, timeout=timeout)


def status(stack_name: str = "covidlake", region: str | None = None,
           out: Console | None = None) -> Json:
    """Print the stack's status and outputs (to stdout); return the stack's description."""
    cf = client(region)
    with aws_errors(f"reading stack {stack_name!r}"):
        stack = describe(cf, stack_name)
    if stack is None:
        raise not_found(stack_name, cf)
    rows = [("Stack", stack["StackName"]), ("Status", stack["StackStatus"])]
    if stack.get("StackStatusReason"):
        rows.append(("Reason", stack["StackStatusReason"]))
    rows += [(o["OutputKey"], o.get("OutputValue", "")) for o in stack.get("Outputs", [])]
    width = max(len(key) for key, _ in rows)
    console = out or Console(highlight=False, soft_wrap=True)
    for key, value in rows:
        console.print(f"{key:<{width}}  {value}", markup=False, highlight=False,
                      soft_wrap=True)
    return stack


def destroy(stack_name: str = "covidlake", region: str | None = None, *,
            poll: float = 5.0, timeout: float = 3600.0) -> str:
    """Delete the stack and wait; the lake bucket is retained with its data."""
    cf = client(region)
    with aws_errors(f"deleting stack {stack_name!r}"):
        stack = describe(cf, stack_name)
        if stack is None:
            raise not_found(stack_name, cf)
        stack_id = stack["StackId"]
        bucket = next((o.get("OutputValue") for o in stack.get("Outputs", [])
                       if o["OutputKey"] == "BucketName"), None)
        seen = event_ids(cf, stack_id)
        if stack["StackStatus"] != "DELETE_IN_PROGRESS":
            cf.delete_stack(StackName=stack_id)
        state = wait(cf, stack_id, stack_name, "deleting", seen, poll=poll, timeout=timeout)
    if bucket:
        log.info(f"the lake bucket {bucket} is retained with its data (DeletionPolicy "
                 "Retain); empty and delete it yourself, or deploy again with another "
                 "--bucket-name")
    return state
