"""Run the real Pulumi program (``__main__.py``) offline under ``pulumi.runtime.set_mocks``.

The mocks record every resource with its resolved inputs and answer with the computed outputs AWS
would give (ARNs, URLs, names), so tests can check the whole topology of a stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

from sandbox.program import PROJECT, ROOT, placeholder_layer, stack_config  # noqa: F401 (re-exported)
from sandbox.program import run_program as run_program_with

ACCOUNT = "123456789012"
REGION = "us-east-1"
TEST_PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----\n"
TEST_SECRETS = {"githubAppPrivateKey": TEST_PRIVATE_KEY, "webhookSecret": "test-webhook-secret"}


@dataclass
class Resource:
    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class ProgramRun:
    resources: list[Resource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> Resource:
        found = [r for r in self.resources if r.typ == typ and r.name == name]
        assert len(found) == 1, f"expected one {typ} named {name}, found {[r.name for r in self.of_type(typ)]}"
        return found[0]

    def policies(self) -> Iterator[tuple[Resource, dict[str, Any]]]:
        """Every IAM policy document the program grants, parsed, with the resource that holds it."""
        for resource in self.resources:
            if resource.typ == "aws:iam/rolePolicy:RolePolicy":
                yield resource, json.loads(resource.inputs["policy"])


def without_architecture_tag(inputs: dict[str, Any]) -> dict[str, Any]:
    """A resource's inputs but its architecture cost allocation tag: for comparing the two architectures."""
    from components.tagging import ARCHITECTURE_TAG

    if "tags" not in inputs:
        return inputs
    return inputs | {"tags": {k: v for k, v in inputs["tags"].items() if k != ARCHITECTURE_TAG}}


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def computed_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs AWS computes for the resource types this program uses (mocks only echo inputs)."""
    physical = inputs.get("name") or inputs.get("layerName") or name
    outputs: dict[str, Any] = {"name": physical} if "name" in inputs or typ.endswith(("Queue", "Table")) else {}
    match typ:
        case "aws:sqs/queue:Queue":
            outputs |= {"arn": _arn("sqs", physical), "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"}
        case "aws:lambda/function:Function":
            arn = _arn("lambda", f"function:{physical}")
            outputs |= {
                "arn": arn,
                "qualifiedArn": f"{arn}:$LATEST",
                "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
            }
        case "aws:lambda/layerVersion:LayerVersion":
            outputs |= {"arn": _arn("lambda", f"layer:{physical}:1"), "layerArn": _arn("lambda", f"layer:{physical}")}
        case "aws:sfn/stateMachine:StateMachine":
            outputs |= {"arn": _arn("states", f"stateMachine:{physical}")}
        case "aws:iam/role:Role":
            outputs |= {"arn": f"arn:aws:iam::{ACCOUNT}:role/{physical}", "id": physical}
        case "aws:dynamodb/table:Table":
            outputs |= {"arn": _arn("dynamodb", f"table/{physical}")}
        case "aws:sns/topic:Topic":
            outputs |= {"arn": _arn("sns", physical)}
        case "aws:kms/key:Key":
            outputs |= {"arn": _arn("kms", f"key/{name}-key-id"), "keyId": f"{name}-key-id"}
        case "aws:secretsmanager/secret:Secret":
            outputs |= {"arn": _arn("secretsmanager", f"secret:{inputs.get('namePrefix', name)}AbCdEf")}
        case "aws:cloudwatch/logGroup:LogGroup":
            outputs |= {"arn": _arn("logs", f"log-group:{physical}")}
        case "aws:apigatewayv2/api:Api":
            outputs |= {
                "apiEndpoint": f"https://{name}-api-id.execute-api.{REGION}.amazonaws.com",
                "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{name}-api-id",
                "id": f"{name}-api-id",
            }
        case "aws:apigatewayv2/stage:Stage":
            outputs |= {"invokeUrl": f"https://api-id.execute-api.{REGION}.amazonaws.com/{inputs.get('name', '')}"}
        case "aws:acm/certificate:Certificate":
            outputs |= {
                "arn": _arn("acm", f"certificate/{name}"),
                "domainValidationOptions": [
                    {
                        "domainName": inputs.get("domainName"),
                        "resourceRecordName": f"_x.{inputs.get('domainName')}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": "_y.acm-validations.aws.",
                    }
                ],
            }
        case "aws:route53/record:Record":
            outputs |= {"fqdn": str(inputs.get("name", "")).rstrip(".")}
        case "aws:cloudfront/distribution:Distribution":
            outputs |= {
                "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{name}",
                "domainName": f"{name}.cloudfront.net",
                "hostedZoneId": "Z2FDTNDATAQYW2",
            }
        case "aws:s3/bucket:Bucket":
            bucket = f"{inputs['bucketPrefix']}0123456789ab"
            outputs |= {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        case "aws:cloudwatch/metricAlarm:MetricAlarm":
            outputs |= {"arn": _arn("cloudwatch", f"alarm:{physical}")}
    return outputs


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, run: ProgramRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = computed_outputs(args.typ, args.name, args.inputs)
        self.run.resources.append(Resource(args.typ, args.name, dict(args.inputs), outputs))
        return outputs.get("id", f"{args.name}-id"), {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        match args.token:
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "test"}, []
            case "aws:index/getRegion:getRegion":
                return {"name": REGION, "region": REGION, "id": REGION}, []
            case "aws:index/getPartition:getPartition":
                return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        raise NotImplementedError(f"unexpected invoke {args.token}")


def prepare_layer(build_dir: Path, architecture: str) -> None:
    """Stand in for the pip-built dependency layer (no network in tests); the program only hashes its path."""
    path = placeholder_layer(architecture)
    assert path.parent == build_dir, "set GITHUB_AUTOMATION_BUILD_DIR before preparing the layer"


def run_program(
    config: dict[str, str], secrets: dict[str, str] | None = None, stack: str = "dev", plain_secrets: bool = False
) -> ProgramRun:
    """Run ``__main__.py`` with this stack config; return what it created and exported."""
    run = ProgramRun()
    run.exports = run_program_with(
        RecordingMocks(run),
        config,
        TEST_SECRETS if secrets is None else secrets,
        stack=stack,
        plain_secrets=plain_secrets,
    )
    return run


def run_stacks(
    build_dir: Path, stack_files: Mapping[str, str], variants: Mapping[str, dict[str, str]] | None = None
) -> dict[str, ProgramRun]:
    """Run the program once per named stack file (its config updated with ``variants[name]``), all with
    their placeholder layers in ``build_dir``."""
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        for name, stack_file in stack_files.items():
            config = stack_config(stack_file) | (variants or {}).get(name, {})
            prepare_layer(build_dir, config["lambdaArchitecture"])
            results[name] = run_program(config)
    return results
