"""The AWS deployment as code: the CloudFormation template (cfn-lint, least privilege, network,
secrets) and `covidlake aws deploy|status|destroy` against moto's CloudFormation."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from covidlake import log
from covidlake.aws import build_template, deploy, destroy, render, status
from covidlake.aws.template import (
    ATHENA_RESULTS,
    GIB,
    JOB_SCRIPT,
    RAW,
    crawler_table,
    logical_id,
    source_format,
)
from covidlake.errors import DeployError
from covidlake.sources import SOURCES

DEPLOY = importlib.import_module("covidlake.aws.deploy")  # the module, not the function
T = build_template()
RESOURCES: dict[str, Any] = T["Resources"]
# Allow statements that may use "*" as an action or resource because AWS offers nothing
# narrower. None is needed: every statement names its bucket prefix, catalog or log group.
WILDCARD_EXCEPTIONS: set[tuple[str, str]] = set()
# Resource types in the template that moto 5.2's CloudFormation does not model: it skips them
# with a warning (no generic resource), so a Ref to one resolves to nothing.
MOTO_UNMODELLED = {
    "AWS::S3::BucketPolicy", "AWS::Glue::Database", "AWS::Glue::Classifier",
    "AWS::Glue::Crawler", "AWS::Glue::Job", "AWS::Athena::WorkGroup",
    "AWS::RedshiftServerless::Namespace", "AWS::RedshiftServerless::Workgroup",
}


def of_type(kind: str) -> dict[str, Any]:
    return {k: r for k, r in RESOURCES.items() if r["Type"] == kind}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pattern(resource: Any) -> str:
    """An ARN of the template as text: Fn::Sub as written, GetAtt X.Arn as ${X.Arn}."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        return resource["Fn::Sub"]
    if "Fn::GetAtt" in resource:
        return "${" + ".".join(resource["Fn::GetAtt"]) + "}"
    raise AssertionError(f"unexpected resource form {resource}")


def policy_statements() -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every policy document in the template, with its resource's id."""
    found = []
    for name, resource in RESOURCES.items():
        for node in walk(resource):
            if isinstance(node, dict) and "Statement" in node and "Version" in node:
                found += [(name, s) for s in node["Statement"]]
    return found


def allows(role: str, action: str, key: str) -> bool:
    """Whether a role's inline policies allow `action` on lake object `key`."""
    target = "${LakeBucket.Arn}/" + key
    for policy in RESOURCES[role]["Properties"]["Policies"]:
        for s in policy["PolicyDocument"]["Statement"]:
            if s["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in s["Action"]) \
                    and any(fnmatchcase(target, pattern(r)) for r in s["Resource"]):
                return True
    return False


def can_list(role: str, prefix: str) -> bool:
    """Whether a role may list the lake bucket's keys under `prefix`."""
    for policy in RESOURCES[role]["Properties"]["Policies"]:
        for s in policy["PolicyDocument"]["Statement"]:
            if "s3:ListBucket" in s["Action"]:
                assert s["Resource"] == [{"Fn::GetAtt": ["LakeBucket", "Arn"]}]
                prefixes = s["Condition"]["StringLike"]["s3:prefix"]
                if any(fnmatchcase(prefix, p) for p in prefixes):
                    return True
    return False


# -- the template ---------------------------------------------------------------------------


def test_cfn_lint_finds_nothing(tmp_path: Path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    path = tmp_path / "covidlake.json"
    path.write_text(render(T))
    matches = lint_file(path, ManualArgs(regions=["ALL_REGIONS"], include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_template_is_deterministic_and_fits_inline() -> None:
    again = build_template()
    assert render(again) == render(T)
    assert list(T) == ["AWSTemplateFormatVersion", "Description", "Parameters", "Conditions",
                       "Resources", "Outputs"]
    assert len(render(T, compact=True).encode()) < 51_200  # CloudFormation's TemplateBody limit


@pytest.mark.parametrize(("stack", "bucket"), [("Covidlake", None), ("covid--lake", None),
                                               ("x" * 29, None), ("covidlake", "Bad_Bucket")])
def test_bad_names_are_refused(stack: str, bucket: str | None) -> None:
    with pytest.raises(DeployError, match="stack name|bucket name"):
        build_template(stack, bucket)


def test_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    bucket = RESOURCES["LakeBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    policy = RESOURCES["LakeBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "LakeBucket"}
    deny_plain = [s for s in policy["PolicyDocument"]["Statement"]
                  if s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(deny_plain) == 1
    assert deny_plain[0]["Effect"] == "Deny" and deny_plain[0]["Action"] == "s3:*"
    assert {pattern(r) for r in deny_plain[0]["Resource"]} == {"${LakeBucket.Arn}",
                                                              "${LakeBucket.Arn}/*"}


def test_no_wildcard_where_a_narrower_grant_exists() -> None:
    """Allow statements name actions and ARNs; only Deny statements (the bucket policy's
    TLS rules) may be broad, since a broad Deny only takes rights away."""
    broad = []
    for name, s in policy_statements():
        if s["Effect"] == "Deny":
            assert name == "LakeBucketPolicy"
            continue
        broad += [(name, a) for a in as_list(s["Action"]) if "*" in a]
        broad += [(name, pattern(r)) for r in as_list(s.get("Resource", []))
                  if pattern(r) == "*" or pattern(r).endswith(":*")]
    assert set(broad) <= WILDCARD_EXCEPTIONS


def test_no_managed_policies_anywhere() -> None:
    assert "AWSGlueServiceRole" not in render(T)
    assert not any("ManagedPolicyArns" in r["Properties"] for r in of_type("AWS::IAM::Role")
                   .values())


@pytest.mark.parametrize("role", ["CrawlerRole", "JobRole", "RedshiftRole"])
def test_each_role_is_trusted_by_exactly_one_service(role: str) -> None:
    trust = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1
    assert trust[0]["Action"] == "sts:AssumeRole" and trust[0]["Effect"] == "Allow"
    assert list(trust[0]["Principal"]) == ["Service"]
    assert isinstance(trust[0]["Principal"]["Service"], str)


@pytest.mark.parametrize(("role", "action", "key", "allowed"), [
    ("CrawlerRole", "s3:GetObject", "raw/enigma-jhu/csv/01-22-2020.csv", True),
    ("CrawlerRole", "s3:GetObject", "star/fact_covid/fact_covid.parquet", False),
    ("CrawlerRole", "s3:GetObject", "_catalog/catalog.json", False),
    ("CrawlerRole", "s3:PutObject", "raw/enigma-jhu/csv/x.csv", False),
    ("CrawlerRole", "s3:GetObject", "_staging/spark/enigma_jhu/01-22-2020.csv", False),
    ("JobRole", "s3:GetObject", "raw/static-datasets/csv/state-abv/states_abv.csv", True),
    ("JobRole", "s3:GetObject", "_catalog/catalog.json", True),
    ("JobRole", "s3:GetObject", JOB_SCRIPT, True),
    ("JobRole", "s3:PutObject", "star/fact_covid/fact_covid.parquet", True),
    ("JobRole", "s3:PutObject", "rejects/rejected_rows.csv", True),
    ("JobRole", "s3:PutObject", "_runs/20260101T000000.json", True),
    ("JobRole", "s3:PutObject", "_staging/spark/enigma_jhu/01-22-2020.csv", True),
    ("JobRole", "s3:PutObject", "raw/enigma-jhu/csv/x.csv", False),
    ("JobRole", "s3:PutObject", "_catalog/catalog.json", False),
    ("JobRole", "s3:PutObject", JOB_SCRIPT, False),
    ("JobRole", "s3:GetObject", ATHENA_RESULTS + "q.csv", False),
    ("RedshiftRole", "s3:GetObject", "star/fact_covid/fact_covid.parquet", True),
    ("RedshiftRole", "s3:GetObject", "raw/enigma-jhu/csv/01-22-2020.csv", False),
    ("RedshiftRole", "s3:GetObject", "_runs/20260101T000000.json", False),
    ("RedshiftRole", "s3:GetObject", "_staging/spark/enigma_jhu/01-22-2020.csv", False),
    ("RedshiftRole", "s3:PutObject", "star/fact_covid/fact_covid.parquet", False),
])
def test_roles_reach_only_their_prefixes(role: str, action: str, key: str,
                                         allowed: bool) -> None:
    assert allows(role, action, key) is allowed


@pytest.mark.parametrize(("role", "prefix", "allowed"), [
    ("CrawlerRole", "raw/enigma-jhu/csv/", True), ("CrawlerRole", "star/", False),
    ("JobRole", "raw/", True), ("JobRole", "star/fact_covid/", True),
    ("JobRole", ATHENA_RESULTS, False),
    ("RedshiftRole", "star/fact_covid/", True), ("RedshiftRole", "raw/", False),
    ("RedshiftRole", "", False),
])
def test_roles_list_only_their_prefixes(role: str, prefix: str, allowed: bool) -> None:
    assert can_list(role, prefix) is allowed


def test_crawler_catalog_and_log_grants_are_scoped() -> None:
    statements = RESOURCES["CrawlerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    glue = [s for s in statements if all(a.startswith("glue:") for a in s["Action"])]
    assert len(glue) == 1
    prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
    assert [pattern(r) for r in glue[0]["Resource"]] == [
        prefix + "catalog", prefix + "database/${DatabaseName}",
        prefix + "table/${DatabaseName}/*"]
    assert not any(a.startswith("glue:Delete") for a in glue[0]["Action"])
    logs = [s for s in statements if all(a.startswith("logs:") for a in s["Action"])]
    assert [pattern(r) for r in logs[0]["Resource"]] == [
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*"]


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_one_crawler_per_source_table(source: Any) -> None:
    crawler = RESOURCES[logical_id(source)]["Properties"]
    assert crawler["Targets"]["S3Targets"] == [
        {"Path": {"Fn::Sub": f"s3://${{LakeBucket}}/{RAW}{source.prefix}"}}]
    expected = "JsonClassifier" if source.name == "hospital_beds" else "CsvClassifier"
    assert source_format(source) == ("json" if expected == "JsonClassifier" else "csv")
    assert crawler["Classifiers"] == [{"Ref": expected}]
    assert crawler["Role"] == {"Fn::GetAtt": ["CrawlerRole", "Arn"]}
    assert crawler["DatabaseName"] == {"Ref": "GlueDatabase"}
    assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE",
                                             "DeleteBehavior": "LOG"}
    # AWS allows incremental crawls only with a LOG/LOG schema change policy
    if crawler["RecrawlPolicy"]["RecrawlBehavior"] == "CRAWL_NEW_FOLDERS_ONLY":
        assert set(crawler["SchemaChangePolicy"].values()) == {"LOG"}


def test_crawlers_classifiers_and_tables() -> None:
    assert len(of_type("AWS::Glue::Crawler")) == len(SOURCES)
    assert len({crawler_table(s) for s in SOURCES}) == len(SOURCES)
    csv = RESOURCES["CsvClassifier"]["Properties"]["CsvClassifier"]
    assert (csv["QuoteSymbol"], csv["ContainsHeader"], csv["Delimiter"]) == ('"', "PRESENT", ",")
    assert RESOURCES["JsonClassifier"]["Properties"]["JsonClassifier"]["JsonPath"] == "$"
    assert T["Parameters"]["DatabaseName"]["Default"] == "covid"
    assert RESOURCES["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"] == {
        "Ref": "DatabaseName"}


def test_glue_job_and_athena_workgroup() -> None:
    job = RESOURCES["TransformJob"]["Properties"]
    assert job["Command"]["Name"] == "glueetl" and job["GlueVersion"] in {"4.0", "5.0"}
    assert job["Command"]["ScriptLocation"] == {
        "Fn::Sub": "s3://${LakeBucket}/jobs/covidlake_transform.py"}
    assert job["DefaultArguments"]["--lake"] == {"Fn::Sub": "s3://${LakeBucket}/"}
    assert job["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-disable"
    assert job["WorkerType"] == "G.1X" and job["NumberOfWorkers"] == {"Ref": "NumberOfWorkers"}
    assert T["Parameters"]["NumberOfWorkers"]["Default"] == 2
    config = RESOURCES["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert T["Parameters"]["BytesScannedCutoffPerQuery"]["Default"] == 10 * GIB
    results = config["ResultConfiguration"]
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${LakeBucket}/athena-results/"}
    assert results["EncryptionConfiguration"]["EncryptionOption"] in {"SSE_S3", "SSE_KMS"}


def test_network_is_private() -> None:
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway",
                 "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::Route", "AWS::EC2::EIP"):
        assert not of_type(kind), kind
    subnets = of_type("AWS::EC2::Subnet").values()
    azs = [s["Properties"]["AvailabilityZone"]["Fn::Select"] for s in subnets]
    assert len(azs) >= 2 and all(az[1] == {"Fn::GetAZs": ""} for az in azs)
    assert len({az[0] for az in azs}) == len(azs)  # one AZ each
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    assert {a["Properties"]["RouteTableId"]["Ref"]
            for a in of_type("AWS::EC2::SubnetRouteTableAssociation").values()} == {
        "PrivateRouteTable"}
    endpoint = RESOURCES["S3GatewayEndpoint"]["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    assert endpoint["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}


def test_no_ingress_from_the_internet() -> None:
    rules = [r["Properties"] for r in of_type("AWS::EC2::SecurityGroupIngress").values()]
    for group in of_type("AWS::EC2::SecurityGroup").values():
        rules += group["Properties"].get("SecurityGroupIngress", [])
    assert rules
    for rule in rules:
        assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0"
        assert "CidrIp" not in rule and "CidrIpv6" not in rule  # only from the group itself
        assert rule["SourceSecurityGroupId"] == rule["GroupId"]
        assert (rule["FromPort"], rule["ToPort"]) == (5439, 5439)


def test_redshift_is_private_and_has_no_literal_password() -> None:
    namespace = RESOURCES["RedshiftNamespace"]["Properties"]
    workgroup = RESOURCES["RedshiftWorkgroup"]["Properties"]
    assert namespace["DbName"] == "covid" and namespace["ManageAdminPassword"] is True
    assert workgroup["PubliclyAccessible"] is False and workgroup["EnhancedVpcRouting"] is True
    assert len(workgroup["SubnetIds"]) >= 2
    assert namespace["DefaultIamRoleArn"] == {"Fn::GetAtt": ["RedshiftRole", "Arn"]}
    for node in walk(T):
        if isinstance(node, dict):
            for key, value in node.items():
                if "password" in key.lower():
                    assert (key, value) == ("ManageAdminPassword", True)
    assert not any(p.get("NoEcho") for p in T["Parameters"].values())


def test_outputs() -> None:
    assert {"BucketName", "GlueDatabase", "AthenaWorkGroup", "RedshiftWorkgroup",
            "RedshiftEndpoint", "CrawlerRoleArn", "JobRoleArn", "RedshiftRoleArn"} <= set(
        T["Outputs"])


# -- deploy, status and destroy on moto ----------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region, and nothing from the user's AWS configuration."""
    import os

    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    log.set_quiet(False)


@pytest.fixture
def moto(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS, taught the two stack deletions it lacks: moto 5.2 leaves an
    AWS::EC2::RouteTable and AWS::EC2::VPCEndpoint behind when it deletes a stack, and then
    cannot delete their VPC. CloudFormation deletes both, the endpoint first (it refers to the
    route table); moto deletes in no set order, so the route table waits for the endpoint."""
    from moto import mock_aws
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.vpcs import VPCEndPoint

    def delete_route_table(cls: Any, resource_name: str, cloudformation_json: Any,
                           account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if any(resource_name in e.route_table_ids and e.state != "deleted"
               for e in backend.vpc_end_points.values()):
            raise DependencyViolationError(f"{resource_name} is used by a VPC endpoint")
        backend.delete_route_table(resource_name)

    def delete_endpoint(cls: Any, resource_name: str, cloudformation_json: Any,
                        account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_vpc_endpoints([resource_name])

    monkeypatch.setattr(RouteTable, "delete_from_cloudformation_json",
                        classmethod(delete_route_table), raising=False)
    monkeypatch.setattr(VPCEndPoint, "delete_from_cloudformation_json",
                        classmethod(delete_endpoint), raising=False)
    with mock_aws():
        yield


def moto_template() -> dict[str, Any]:
    """The template minus the outputs moto cannot evaluate: a GetAtt of a type it does not
    model fails the whole stack inside moto (AttributeError), so RedshiftEndpoint goes."""
    from moto.cloudformation.parsing import get_model_map

    modelled = get_model_map()
    template = build_template()
    template["Outputs"] = {
        k: o for k, o in template["Outputs"].items()
        if "Fn::GetAtt" not in o["Value"]
        or RESOURCES[o["Value"]["Fn::GetAtt"][0]]["Type"] in modelled}
    return template


def test_moto_models_what_we_expect() -> None:
    from moto.cloudformation.parsing import get_model_map

    unmodelled = {r["Type"] for r in RESOURCES.values()} - set(get_model_map())
    assert unmodelled <= MOTO_UNMODELLED


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
def test_deploy_status_redeploy_update_destroy(moto: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    template = moto_template()
    assert deploy("covidlake", template=template, poll=0) == "CREATE_COMPLETE"
    err = capsys.readouterr().err
    assert "CREATE_COMPLETE" in err and "covidlake (AWS::CloudFormation::Stack)" in err
    bucket = "covidlake-lake-123456789012-us-east-1"
    assert bucket in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    s3 = boto3.client("s3")
    # moto's bucket keeps the name, encryption and tags of the template (not its versioning,
    # public access block, ownership or lifecycle: the template tests above check those)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    roles = {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}
    assert {"covidlake-crawler", "covidlake-job", "covidlake-redshift"} <= roles

    stack = status("covidlake")
    out = capsys.readouterr().out
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "Status           CREATE_COMPLETE" in out
    assert f"BucketName       {bucket}" in out
    assert f"LakeUri          s3://{bucket}/" in out
    assert "RedshiftRoleArn  arn:aws:iam::123456789012:role/covidlake-redshift" in out

    assert deploy("covidlake", template=template, poll=0) == "unchanged"
    assert "no changes to deploy" in capsys.readouterr().err

    template["Parameters"]["NumberOfWorkers"]["Default"] = 4
    assert deploy("covidlake", template=template, poll=0) == "UPDATE_COMPLETE"
    assert "UPDATE_COMPLETE" in capsys.readouterr().err

    assert destroy("covidlake", poll=0) == "DELETE_COMPLETE"
    assert "retained" in capsys.readouterr().err
    with pytest.raises(DeployError, match="stack 'covidlake' not found in region us-east-1"):
        status("covidlake")
    # DeletionPolicy Retain: the lake's data outlives the stack
    assert bucket in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


@pytest.mark.parametrize("command", [status, destroy], ids=["status", "destroy"])
def test_missing_stack(moto: None, command: Any) -> None:
    with pytest.raises(DeployError, match="not found") as info:
        command("nothing-here")
    assert "covidlake aws deploy" in str(info.value)


@pytest.mark.parametrize("command", [deploy, status, destroy],
                         ids=["deploy", "status", "destroy"])
def test_no_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch, command: Any) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    with pytest.raises(DeployError, match="no AWS credentials"):
        command("covidlake")


def test_no_region(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(DeployError, match="no AWS region") as info:
        status("covidlake")
    assert "--region" in str(info.value)


class RollingBack:
    """A CloudFormation client whose stack creation fails and rolls back, as moto's never
    does: each describe_stacks reveals the next step (a status and its new events)."""

    def __init__(self, steps: list[tuple[str, list[dict[str, Any]]]],
                 existing: str | None = None) -> None:
        self.steps = steps
        self.state = existing
        self.events: list[dict[str, Any]] = []
        self.meta = SimpleNamespace(region_name="us-east-1")

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        from botocore.exceptions import ClientError

        if self.state is None:
            raise ClientError({"Error": {"Code": "ValidationError",
                                         "Message": f"Stack with id {StackName} does not exist"}},
                              "DescribeStacks")
        if self.steps:
            self.state, new = self.steps.pop(0)
            self.events += new
        return {"Stacks": [{"StackName": "covidlake", "StackId": "id-1",
                            "StackStatus": self.state}]}

    def create_stack(self, **kwargs: Any) -> dict[str, str]:
        assert kwargs["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
        self.state = "CREATE_IN_PROGRESS"
        return {"StackId": "id-1"}

    def get_paginator(self, name: str) -> RollingBack:
        assert name == "describe_stack_events"
        return self

    def paginate(self, StackName: str) -> Iterator[dict[str, Any]]:  # noqa: N803
        yield {"StackEvents": self.events[::-1]}  # newest first


def event(n: int, logical: str, state: str, reason: str = "") -> dict[str, Any]:
    out = {"EventId": str(n), "Timestamp": datetime(2026, 1, 1, 12, 0, n),
           "LogicalResourceId": logical, "ResourceStatus": state,
           "ResourceType": "AWS::CloudFormation::Stack" if logical == "covidlake"
           else "AWS::S3::Bucket"}
    return {**out, "ResourceStatusReason": reason} if reason else out


def test_rollback_becomes_a_deploy_error(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    fake = RollingBack([
        ("CREATE_IN_PROGRESS", [event(1, "covidlake", "CREATE_IN_PROGRESS", "User Initiated"),
                                event(2, "LakeBucket", "CREATE_IN_PROGRESS")]),
        ("ROLLBACK_COMPLETE", [event(3, "LakeBucket", "CREATE_FAILED", "bucket already exists"),
                               event(4, "Vpc", "CREATE_FAILED", "Resource creation cancelled"),
                               event(5, "covidlake", "ROLLBACK_IN_PROGRESS"),
                               event(6, "covidlake", "ROLLBACK_COMPLETE")]),
    ])
    monkeypatch.setattr(DEPLOY, "client", lambda region: fake)
    with pytest.raises(DeployError) as info:
        deploy("covidlake", poll=0)
    message = str(info.value)
    assert "ended in ROLLBACK_COMPLETE" in message
    assert "first failure: LakeBucket: bucket already exists" in message
    assert "covidlake aws destroy --stack-name covidlake" in message
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("12:00:01 CREATE_IN_PROGRESS")
    assert [line.split()[1] for line in lines] == [
        "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]  # each event once, oldest first


@pytest.mark.parametrize(("state", "says"), [
    ("ROLLBACK_COMPLETE", "cannot be updated"),
    ("UPDATE_IN_PROGRESS", "busy"),
])
def test_deploy_refuses_a_stack_it_cannot_update(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                 state: str, says: str) -> None:
    monkeypatch.setattr(DEPLOY, "client", lambda region: RollingBack([], existing=state))
    with pytest.raises(DeployError, match=says):
        deploy("covidlake", poll=0)


# -- the command line -------------------------------------------------------------------------


def test_cli_prints_the_template(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "covidlake", "aws", "template"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(render(T))
    out = tmp_path / "t.json"
    proc = subprocess.run([sys.executable, "-m", "covidlake", "aws", "template",
                           "--stack-name", "lake2", "--bucket-name", "my-lake",
                           "--output", str(out)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    written = json.loads(out.read_text())
    assert written["Parameters"]["BucketName"]["Default"] == "my-lake"
    assert written["Resources"]["TransformJob"]["Properties"]["Name"] == "lake2-transform"


def test_cli_status_of_a_missing_stack_exits_1(moto: None, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from covidlake import cli

    monkeypatch.setattr(sys, "argv", ["covidlake", "aws", "status", "--stack-name", "nope"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    assert "stack 'nope' not found" in capsys.readouterr().err
