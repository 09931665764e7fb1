"""The tutorial's AWS architecture as one CloudFormation template, built as Python data.

`build_template()` returns the template as dicts whose keys are inserted in a fixed order, so
`render()` is byte-for-byte deterministic. One lake bucket (prefixes as in the project, see
`PREFIXES`), a Glue database, one Glue crawler per table in `covidlake.sources.SOURCES`, the
Glue Spark job, an Athena workgroup, Redshift Serverless in a private VPC, and three IAM roles
whose inline policies name only the prefixes and catalog objects each one needs.

Encryption at rest is SSE-S3 (AES256) with a bucket key, not SSE-KMS with a customer key: the
lake holds only re-derived public open data (s3://covid19-lake), so access is decided by the
prefix-scoped IAM policies and the bucket policy; a customer key would add a key policy whose
Resource must be "*", kms:Decrypt grants for every reader (crawler, job, Athena users, the
Redshift COPY role) and a monthly charge, and its main gains (key-level revocation and audit)
protect secrets this bucket does not hold. Athena results are encrypted the same way (SSE_S3).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from covidlake import __version__, log
from covidlake.errors import DeployError
from covidlake.sources import RAW, SOURCES, SourceTable

Json = dict[str, Any]

STAR, CATALOG, RUNS, REJECTS = "star/", "_catalog/", "_runs/", "rejects/"
JOBS, ATHENA_RESULTS = "jobs/", "athena-results/"
STAGING = "_staging/spark/"  # where the Spark engine stages raw objects on a cluster
PREFIXES = (RAW, STAR, CATALOG, RUNS, REJECTS, STAGING, JOBS, ATHENA_RESULTS)
JOB_SCRIPT = JOBS + "covidlake_transform.py"  # written by the Spark part of the project
CRAWLER_TABLE_PREFIX = "raw_"  # keeps crawler tables apart from `--catalog glue://` ones
REDSHIFT_PORT = 5439
VPC_CIDR = "10.42.0.0/16"
SUBNET_CIDRS = ("10.42.0.0/20", "10.42.16.0/20", "10.42.32.0/20")
GIB = 1024**3
STACK_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,27}$")
BUCKET_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|[.-](?=[a-z0-9])){2,62}$")

# Each role is assumed by exactly one service. Redshift Serverless is documented to work with
# redshift.amazonaws.com; AWS also suggests adding redshift-serverless.amazonaws.com if a COPY
# reports "Not authorized to get credentials of role".
SERVICES = {"CrawlerRole": "glue.amazonaws.com", "JobRole": "glue.amazonaws.com",
            "RedshiftRole": "redshift.amazonaws.com"}


def ref(name: str) -> Json:
    return {"Ref": name}


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def objects(prefix: str) -> Json:
    """The ARN pattern of every object under one prefix of the lake bucket."""
    return sub(f"${{LakeBucket.Arn}}/{prefix}*")


def statement(sid: str, actions: list[str], resources: list[Any],
              condition: Json | None = None) -> Json:
    """One Allow statement of an identity policy."""
    out: Json = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        out["Condition"] = condition
    return out


def list_bucket(sid: str, prefixes: list[str]) -> Json:
    """ListBucket on the lake bucket, only for keys under the given prefixes."""
    return statement(sid, ["s3:ListBucket"], [att("LakeBucket", "Arn")],
                     {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}})


def glue_logs(sid: str) -> Json:
    """CloudWatch Logs for Glue's own log groups (/aws-glue/crawlers, /aws-glue/jobs/...)."""
    return statement(sid, ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                     [sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                          ":log-group:/aws-glue/*")])


def role(name: str, logical: str, description: str, statements: list[Json]) -> Json:
    """An IAM role trusted by one service principal, with one inline policy."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": f"{name}-{logical.removesuffix('Role').lower()}",
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow",
                               "Principal": {"Service": SERVICES[logical]},
                               "Action": "sts:AssumeRole"}],
            },
            "Policies": [{"PolicyName": "least-privilege",
                          "PolicyDocument": {"Version": "2012-10-17",
                                             "Statement": statements}}],
        },
    }


def logical_id(source: SourceTable) -> str:
    return "Crawler" + "".join(part.title() for part in source.name.split("_"))


def source_format(source: SourceTable) -> str:
    """csv or json, from the format folder in the data lake's key (`.../csv/...`)."""
    parts = source.prefix.strip("/").split("/")
    return "json" if "json" in parts else "csv"


def crawler_table(source: SourceTable) -> str:
    """The table a Glue crawler makes of this source: its folder's name, sanitised."""
    folder = source.prefix.strip("/").split("/")[-1]
    return CRAWLER_TABLE_PREFIX + re.sub(r"[^a-z0-9_]", "_", folder.lower())


def check_names(stack_name: str, bucket_name: str | None) -> None:
    """Names end up in bucket, role and Redshift names: lowercase, short, no double hyphen."""
    if not STACK_NAME.match(stack_name):
        raise DeployError(f"stack name {stack_name!r} cannot name every resource",
                          hint="use 2-28 lowercase letters, digits and single hyphens, "
                               "starting with a letter, e.g. covidlake")
    if bucket_name is not None and (not BUCKET_NAME.match(bucket_name) or ".." in bucket_name):
        raise DeployError(f"bucket name {bucket_name!r} is not a valid S3 bucket name",
                          hint="use 3-63 lowercase letters, digits, hyphens and dots")


def parameters(bucket_name: str | None) -> Json:
    return {
        "BucketName": {
            "Type": "String", "Default": bucket_name or "",
            "AllowedPattern": "^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "Description": "The lake bucket's name; empty: <stack>-lake-<account>-<region>."},
        "DatabaseName": {
            "Type": "String", "Default": "covid", "AllowedPattern": "^[a-z0-9_]{1,255}$",
            "Description": "The Glue database the crawlers write to."},
        "NumberOfWorkers": {
            "Type": "Number", "Default": 2, "MinValue": 2, "MaxValue": 100,
            "Description": "G.1X workers of the Glue transform job."},
        "BytesScannedCutoffPerQuery": {
            "Type": "Number", "Default": 10 * GIB, "MinValue": 10_000_000,
            "Description": "Athena cancels a query of this workgroup that scans more bytes."},
        "RedshiftBaseCapacity": {
            "Type": "Number", "Default": 8, "MinValue": 8, "MaxValue": 512,
            "Description": "Redshift Serverless base capacity in RPUs."},
    }


def storage(name: str) -> Json:
    """The lake bucket and its TLS-only bucket policy."""
    bucket_arn, all_objects = att("LakeBucket", "Arn"), sub("${LakeBucket.Arn}/*")
    return {
        "LakeBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {"Fn::If": [
                    "GeneratedBucketName",
                    sub(f"{name}-lake-${{AWS::AccountId}}-${{AWS::Region}}"),
                    ref("BucketName")]},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                    "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": True}]},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True, "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "expire-athena-results", "Status": "Enabled",
                     "Prefix": ATHENA_RESULTS, "ExpirationInDays": 30},
                    {"Id": "expire-spark-staging", "Status": "Enabled",
                     "Prefix": STAGING, "ExpirationInDays": 7},
                    {"Id": "expire-old-versions", "Status": "Enabled",
                     "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
                ]},
                "Tags": [{"Key": "covidlake:prefixes", "Value": " ".join(PREFIXES)}],
            },
        },
        "LakeBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("LakeBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                     "Action": "s3:*", "Resource": [bucket_arn, all_objects],
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                    {"Sid": "DenyTlsBelow12", "Effect": "Deny", "Principal": "*",
                     "Action": "s3:*", "Resource": [bucket_arn, all_objects],
                     "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
                ]},
            },
        },
    }


def roles(name: str) -> Json:
    catalog_arns = [
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
            ":database/${DatabaseName}"),
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
            ":table/${DatabaseName}/*"),
    ]
    location = statement("BucketLocation", ["s3:GetBucketLocation"], [att("LakeBucket", "Arn")])
    read_write = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    return {
        "CrawlerRole": role(name, "CrawlerRole", "Glue crawlers: read raw/, write the catalog", [
            statement("ReadRaw", ["s3:GetObject"], [objects(RAW)]),
            list_bucket("ListRaw", [RAW]),
            location,
            statement("CatalogOneDatabase", [
                "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
                "glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions",
                "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
                "glue:UpdatePartition", "glue:BatchUpdatePartition"], catalog_arns),
            glue_logs("GlueLogs"),
        ]),
        # Spark commits by copy and delete under the output prefix: read-write there, and
        # in the staging prefix where the Spark engine copies raw objects for the executors.
        "JobRole": role(name, "JobRole", "Glue job: raw/ and _catalog/ in, star/ out", [
            statement("ReadInputsAndScript", ["s3:GetObject"],
                      [objects(RAW), objects(CATALOG), objects(JOBS)]),
            statement("WriteOutputs", read_write,
                      [objects(STAR), objects(REJECTS), objects(RUNS), objects(STAGING)]),
            list_bucket("ListLakePrefixes", [RAW, CATALOG, STAR, REJECTS, RUNS, STAGING]),
            location,
            glue_logs("GlueLogs"),
        ]),
        "RedshiftRole": role(name, "RedshiftRole", "Redshift COPY: read star/ only", [
            statement("ReadStar", ["s3:GetObject"], [objects(STAR)]),
            list_bucket("ListStar", [STAR]),
        ]),
    }


def catalog(name: str) -> Json:
    """The Glue database, the two classifiers and one crawler per source table."""
    out: Json = {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {"CatalogId": ref("AWS::AccountId"), "DatabaseInput": {
                "Name": ref("DatabaseName"),
                "Description": "COVID-19 Data Lake tables (covidlake)"}},
        },
        # The tutorial's crawler read the all-text states_abv.csv header as a data row and
        # split quoted fields on their commas: say so explicitly instead of guessing.
        "CsvClassifier": {
            "Type": "AWS::Glue::Classifier",
            "Properties": {"CsvClassifier": {
                "Name": f"{name}-csv", "Delimiter": ",", "QuoteSymbol": '"',
                "ContainsHeader": "PRESENT", "AllowSingleColumn": False,
                "DisableValueTrimming": False}},
        },
        "JsonClassifier": {
            "Type": "AWS::Glue::Classifier",
            "Properties": {"JsonClassifier": {"Name": f"{name}-json", "JsonPath": "$"}},
        },
    }
    # Incremental crawls (CRAWL_NEW_FOLDERS_ONLY) force SchemaChangePolicy LOG/LOG, and these
    # sources add files to existing folders, which an incremental crawl would never see: so
    # no crawler here qualifies, and each crawls everything.
    config = json.dumps({"Version": 1.0,
                         "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}})
    for source in SOURCES:
        fmt = source_format(source)
        out[logical_id(source)] = {
            "Type": "AWS::Glue::Crawler",
            "Properties": {
                "Name": f"{name}-{source.name.replace('_', '-')}",
                "Description": f"{source.description}; table {crawler_table(source)}",
                "Role": att("CrawlerRole", "Arn"),
                "DatabaseName": ref("GlueDatabase"),
                "TablePrefix": CRAWLER_TABLE_PREFIX,
                "Classifiers": [ref("CsvClassifier" if fmt == "csv" else "JsonClassifier")],
                "Targets": {"S3Targets": [{"Path": sub(f"s3://${{LakeBucket}}/{RAW}"
                                                       f"{source.prefix}")}]},
                "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE",
                                       "DeleteBehavior": "LOG"},
                "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
                "Configuration": config,
            },
        }
    return out


def compute(name: str) -> Json:
    """The Glue Spark job and the Athena workgroup."""
    return {
        "TransformJob": {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": f"{name}-transform",
                "Description": "Builds the star schema from raw/ into star/",
                "Role": att("JobRole", "Arn"),
                "Command": {"Name": "glueetl", "PythonVersion": "3",
                            "ScriptLocation": sub(f"s3://${{LakeBucket}}/{JOB_SCRIPT}")},
                "GlueVersion": "5.0",
                "WorkerType": "G.1X",
                "NumberOfWorkers": ref("NumberOfWorkers"),
                "MaxRetries": 0,
                "Timeout": 60,
                "ExecutionProperty": {"MaxConcurrentRuns": 1},
                "DefaultArguments": {
                    "--lake": sub("s3://${LakeBucket}/"),
                    "--job-bookmark-option": "job-bookmark-disable",
                    "--job-language": "python",
                    # the script runs covidlake's own transform (see covidlake.gluejob)
                    "--additional-python-modules": f"covidlake[s3,spark]=={__version__}",
                    "--enable-continuous-cloudwatch-log": "true",
                },
            },
        },
        "AthenaWorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": name,
                "Description": "covidlake queries, results encrypted in the lake",
                "State": "ENABLED",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": ref("BytesScannedCutoffPerQuery"),
                    "PublishCloudWatchMetricsEnabled": True,
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": sub(f"s3://${{LakeBucket}}/{ATHENA_RESULTS}"),
                        "ExpectedBucketOwner": ref("AWS::AccountId"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
                },
            },
        },
    }


def network() -> Json:
    """A VPC with private subnets only: no internet gateway, S3 through a gateway endpoint."""
    out: Json = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True,
            "Tags": [{"Key": "Name", "Value": sub("${AWS::StackName}-private")}]}},
        "PrivateRouteTable": {"Type": "AWS::EC2::RouteTable",
                              "Properties": {"VpcId": ref("Vpc")}},
    }
    for i, cidr in enumerate(SUBNET_CIDRS):
        out[f"PrivateSubnet{i + 1}"] = {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": ref("Vpc"), "CidrBlock": cidr, "MapPublicIpOnLaunch": False,
            "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]}}}
        out[f"PrivateSubnet{i + 1}Routes"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": ref(f"PrivateSubnet{i + 1}"),
                           "RouteTableId": ref("PrivateRouteTable")}}
    out["S3GatewayEndpoint"] = {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
        "VpcId": ref("Vpc"), "VpcEndpointType": "Gateway",
        "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
        "RouteTableIds": [ref("PrivateRouteTable")],
        # Only the Redshift COPY role, only the star schema: the VPC reaches nothing else.
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "RedshiftCopyFromStar", "Effect": "Allow",
             "Principal": {"AWS": att("RedshiftRole", "Arn")},
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [att("LakeBucket", "Arn"), objects(STAR)]}]}}}
    out["RedshiftSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "Redshift Serverless: no ingress but from itself",
        "VpcId": ref("Vpc"),
        # Replaces the default allow-all egress; no route leads out except the S3 endpoint.
        "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                 "CidrIp": "0.0.0.0/0",
                                 "Description": "HTTPS, routable only to the S3 endpoint"}]}}
    out["RedshiftSelfIngress"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
        "GroupId": ref("RedshiftSecurityGroup"), "IpProtocol": "tcp",
        "FromPort": REDSHIFT_PORT, "ToPort": REDSHIFT_PORT,
        "SourceSecurityGroupId": ref("RedshiftSecurityGroup"),
        "Description": "Redshift clients inside this security group only"}}
    return out


def warehouse(name: str) -> Json:
    """Redshift Serverless: database covid, password kept by Secrets Manager, private."""
    return {
        "RedshiftNamespace": {"Type": "AWS::RedshiftServerless::Namespace", "Properties": {
            "NamespaceName": name, "DbName": "covid", "AdminUsername": "admin",
            "ManageAdminPassword": True,
            "IamRoles": [att("RedshiftRole", "Arn")],
            "DefaultIamRoleArn": att("RedshiftRole", "Arn"),
            "LogExports": ["connectionlog", "userlog", "useractivitylog"]}},
        "RedshiftWorkgroup": {"Type": "AWS::RedshiftServerless::Workgroup", "Properties": {
            "WorkgroupName": name, "NamespaceName": ref("RedshiftNamespace"),
            "BaseCapacity": ref("RedshiftBaseCapacity"),
            "EnhancedVpcRouting": True, "PubliclyAccessible": False, "Port": REDSHIFT_PORT,
            "SubnetIds": [ref(f"PrivateSubnet{i + 1}") for i in range(len(SUBNET_CIDRS))],
            "SecurityGroupIds": [ref("RedshiftSecurityGroup")],
            "ConfigParameters": [{"ParameterKey": "require_ssl", "ParameterValue": "true"}]}},
    }


def outputs() -> Json:
    values = {
        "BucketName": ("The lake bucket", ref("LakeBucket")),
        "LakeUri": ("covidlake --lake", sub("s3://${LakeBucket}/")),
        "GlueDatabase": ("Glue database of the crawlers", ref("GlueDatabase")),
        "GlueJob": ("The Glue transform job", ref("TransformJob")),
        "AthenaWorkGroup": ("Athena workgroup", ref("AthenaWorkGroup")),
        "RedshiftWorkgroup": ("Redshift Serverless workgroup", ref("RedshiftWorkgroup")),
        "RedshiftEndpoint": ("Redshift endpoint, reachable inside the VPC only",
                             att("RedshiftWorkgroup", "Workgroup.Endpoint.Address")),
        "CrawlerRoleArn": ("Role of the Glue crawlers", att("CrawlerRole", "Arn")),
        "JobRoleArn": ("Role of the Glue job", att("JobRole", "Arn")),
        "RedshiftRoleArn": ("Role for Redshift COPY (iam_role=)", att("RedshiftRole", "Arn")),
    }
    return {key: {"Description": text, "Value": value}
            for key, (text, value) in values.items()}


def build_template(stack_name: str = "covidlake", bucket_name: str | None = None) -> Json:
    """The whole deployment as a CloudFormation template (a dict, in a fixed key order)."""
    check_names(stack_name, bucket_name)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "covidlake: the COVID-19 Data Lake on S3, Glue, Athena and Redshift "
                       "Serverless, least privilege",
        "Parameters": parameters(bucket_name),
        "Conditions": {"GeneratedBucketName": {"Fn::Equals": [ref("BucketName"), ""]}},
        "Resources": {**storage(stack_name), **roles(stack_name), **catalog(stack_name),
                      **compute(stack_name), **network(), **warehouse(stack_name)},
        "Outputs": outputs(),
    }


def render(template: Json, *, compact: bool = False) -> str:
    """The template as JSON text: indented for people, compact for the CloudFormation API."""
    if compact:
        return json.dumps(template, separators=(",", ":"))
    return json.dumps(template, indent=2) + "\n"


def emit_template(stack_name: str = "covidlake", bucket_name: str | None = None,
                  output: str | None = None) -> None:
    """Write the template's JSON to `output`, or to stdout when there is none."""
    text = render(build_template(stack_name, bucket_name))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"cannot write the template to {output}: {exc.strerror}",
                          hint="choose a writable path for --output") from exc
    log.info(f"template: {len(text)} bytes -> {output}")
