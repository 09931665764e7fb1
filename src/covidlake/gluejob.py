"""`covidlake glue-job`: the AWS Glue (Spark) job that runs the same transform as
`covidlake transform --engine spark`, with the same configuration, on a Glue cluster.

Two files: the job script (upload it to s3://BUCKET/jobs/covidlake_transform.py, where the
CloudFormation template's Glue job points) and the job definition (the `create_job` request).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from covidlake import __version__

SCRIPT_NAME = "covidlake_transform.py"

SCRIPT = '''"""AWS Glue job: the covidlake transform on Spark (made by `covidlake glue-job`).

Runs exactly `covidlake transform --engine spark --lake <lake>`: the same model SQL, the same
checks, the same exported star files. Glue installs covidlake from --additional-python-modules.
"""

import sys

from awsglue.context import GlueContext
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from covidlake.pipeline import execute
from covidlake.settings import load_settings

args = getResolvedOptions(sys.argv, ["lake"])
GlueContext(SparkContext.getOrCreate())  # the Spark session covidlake's engine picks up
settings = load_settings({"lake": args["lake"], "engine": "spark", "quiet": True})
execute("transform", settings, ["transform"])
'''


def job_definition(bucket: str, role_arn: str, *, name: str = "covidlake-transform",
                   workers: int = 2) -> dict[str, Any]:
    """The Glue `create_job` request for the script at s3://BUCKET/jobs/."""
    return {
        "Name": name,
        "Role": role_arn,
        "GlueVersion": "5.0",
        "Command": {"Name": "glueetl", "PythonVersion": "3",
                    "ScriptLocation": f"s3://{bucket}/jobs/{SCRIPT_NAME}"},
        "DefaultArguments": {
            "--lake": f"s3://{bucket}/",
            "--additional-python-modules": f"covidlake[s3,spark]=={__version__}",
            "--job-bookmark-option": "job-bookmark-disable",
            "--enable-continuous-cloudwatch-log": "true",
        },
        "WorkerType": "G.1X",
        "NumberOfWorkers": workers,
        "MaxRetries": 0,
        "Timeout": 60,
    }


def write(out_dir: Path, bucket: str, role_arn: str, workers: int = 2) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / SCRIPT_NAME
    script.write_text(SCRIPT, encoding="utf-8")
    job = out_dir / "covidlake_transform.job.json"
    job.write_text(json.dumps(job_definition(bucket, role_arn, workers=workers), indent=2) + "\n",
                   encoding="utf-8")
    return [script, job]
