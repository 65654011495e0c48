"""The content rules of controlplane.validation, one small inline config per rule."""

from __future__ import annotations

import msgspec
import pytest
from controlplane.validation import DeploymentContext, Finding, ValidationResult, validate_config

TOKEN = 'token = "cpt_unit_test_token_0123456789"'
AWS = """
id = "prl_aws"
type = "aws"
region = "eu-west-1"
ami { type = certified, java = latest }
security-groups = ["sg-1"]
subnets = ["subnet-1", "subnet-2"]
instance-type = "c7i.xlarge"
"""
KUBERNETES = """
id = "prl_k8s"
type = "kubernetes"
namespace = "gatling"
image { type = certified, java = latest }
"""
AZURE = """
id = "prl_azure"
type = "azure"
region = "westeurope"
size = "Standard_A4_v2"
image { type = certified, java = latest }
subscription = "00000000-0000-0000-0000-000000000000"
network-id = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/z"
subnet-name = "default"
"""
GCP = """
id = "prl_gcp"
type = "gcp"
zone = "europe-west3-a"
project = "my-project"
machine { type = "c3-highcpu-4", image { type = certified, java = latest }, disk { sizeGb = 20 } }
"""
DEDICATED = """
id = "prl_dedicated"
type = "dedicated"
ssh { user = "gatling", private-key { path = "/app/conf/control-plane.conf" } }
hosts = ["10.0.0.1"]
"""
LOCATIONS = {"aws": AWS, "kubernetes": KUBERNETES, "azure": AZURE, "gcp": GCP, "dedicated": DEDICATED}


def location(base: str, *extra: str, without: tuple[str, ...] = ()) -> str:
    """`base` with the lines of keys in `without` dropped and `extra` lines appended (later keys win)."""
    lines = [line for line in base.strip().splitlines() if not line.strip().startswith(without or ("\0",))]
    return "\n".join([*lines, *extra])


def config(*locations: str, root: str = "", token: str = TOKEN) -> bytes:
    body = ",\n".join("{\n" + loc + "\n}" for loc in locations)
    return f"control-plane {{\n{token}\n{root}\nlocations = [\n{body}\n]\n}}\n".encode()


def validate(data: bytes, context: DeploymentContext | None = None) -> ValidationResult:
    return validate_config(data, context=context)


def at(findings: list[Finding], path: str) -> list[str]:
    """Messages of the findings on `path`."""
    return [f.message for f in findings if f.path == path]


LOC0 = "control-plane.locations[0]"


@pytest.mark.parametrize("kind", sorted(LOCATIONS))
def test_a_minimal_location_of_each_type_is_valid_without_findings(kind: str) -> None:
    result = validate(config(LOCATIONS[kind]))
    assert result.valid, result.format_text()
    assert result.errors == [] and result.warnings == []


# --- the root ----------------------------------------------------------------------------------


def test_missing_root_object_is_an_error_that_names_a_near_miss() -> None:
    result = validate(config(AWS).replace(b"control-plane {", b"control_plane {"))
    assert not result.valid
    [message] = at(result.errors, "control-plane")
    assert "missing required root object control-plane" in message
    assert "control_plane" in message


def test_root_that_is_not_an_object_is_an_error() -> None:
    result = validate(b"control-plane = 3\n")
    assert at(result.errors, "control-plane") == ["control-plane must be an object, not a number"]


def test_comment_only_file_has_no_settings() -> None:
    result = validate(b"# nothing here\n\n")
    assert not result.valid
    assert "no settings" in result.errors[0].message


def test_unknown_root_keys_warn_and_top_level_substitution_sources_do_not() -> None:
    data = config(location(AWS, "enterprise-cloud = ${shared}"), root="descripton = x").replace(
        b"control-plane {", b'shared { proxy { forward { url = "http://p" } } }\ncontrol-plane {'
    )
    result = validate(data)
    assert result.valid
    assert at(result.warnings, "control-plane.descripton") == [
        "unknown key descripton (did you mean description?)"
    ]
    assert len(result.warnings) == 1


# --- the token ---------------------------------------------------------------------------------


def test_literal_token_is_enough() -> None:
    assert validate(config(AWS)).valid


def test_missing_token_is_an_error() -> None:
    result = validate(config(AWS, token=""))
    assert at(result.errors, "control-plane.token") == ["missing required key token"]


def test_token_from_the_environment_only_warns_without_context() -> None:
    result = validate(config(AWS, token="token = ${?CONTROL_PLANE_TOKEN}"))
    assert result.valid
    [message] = at(result.warnings, "control-plane.token")
    assert "deployment must inject the token secret" in message


def test_token_from_the_environment_is_fine_when_the_secret_is_injected() -> None:
    result = validate(
        config(AWS, token="token = ${?CONTROL_PLANE_TOKEN}"), DeploymentContext(token_injected=True)
    )
    assert result.valid and result.errors == [] and result.warnings == []


def test_token_from_the_environment_is_an_error_when_the_secret_is_not_injected() -> None:
    result = validate(config(AWS, token="token = ${?CONTROL_PLANE_TOKEN}"), DeploymentContext())
    assert not result.valid
    assert "does not inject the token secret" in at(result.errors, "control-plane.token")[0]


def test_literal_token_overridden_by_the_environment_is_valid_either_way() -> None:
    data = config(AWS, token=TOKEN + "\ntoken = ${?CONTROL_PLANE_TOKEN}")
    assert validate(data).warnings == []
    assert validate(data, DeploymentContext(token_injected=True)).warnings == []


def test_literal_token_with_an_injected_secret_warns_that_the_secret_is_ignored() -> None:
    result = validate(config(AWS), DeploymentContext(token_injected=True))
    assert result.valid
    assert "injected CONTROL_PLANE_TOKEN secret is ignored" in at(result.warnings, "control-plane.token")[0]


def test_required_token_substitution_warns_without_context_and_fails_without_the_secret() -> None:
    data = config(AWS, token="token = ${CONTROL_PLANE_TOKEN}")
    assert validate(data).valid
    assert any("${CONTROL_PLANE_TOKEN}" in w.message for w in validate(data).warnings)
    assert not validate(data, DeploymentContext()).valid
    assert validate(data, DeploymentContext(token_injected=True)).valid


def test_token_from_another_variable_missing_from_the_container_is_an_error() -> None:
    data = config(AWS, token="token = ${?MY_TOKEN}")
    result = validate(data)
    assert at(result.errors, "control-plane.token") == [
        "the token is missing: ${?MY_TOKEN} is not in the container's environment"
    ]
    assert validate(data, DeploymentContext(container_env=("MY_TOKEN",))).valid


def test_token_of_the_wrong_type_is_an_error_that_does_not_quote_it() -> None:
    result = validate(config(AWS, token="token = 123456789"))
    assert at(result.errors, "control-plane.token") == ["token must be a non-empty string, not a number"]
    assert "123456789" not in msgspec.json.encode(result).decode()


def test_token_without_the_cpt_prefix_warns() -> None:
    result = validate(config(AWS, token='token = "not-a-gatling-token"'))
    assert result.valid
    assert "does not start with cpt_" in at(result.warnings, "control-plane.token")[0]


# --- locations ---------------------------------------------------------------------------------


def test_missing_locations_is_an_error() -> None:
    result = validate(f"control-plane {{\n{TOKEN}\n}}\n".encode())
    assert at(result.errors, "control-plane.locations") == ["missing required key locations"]


def test_empty_locations_is_an_error() -> None:
    result = validate(config())
    assert "at least one location" in at(result.errors, "control-plane.locations")[0]


def test_locations_must_be_a_list_of_objects() -> None:
    result = validate(f"control-plane {{\n{TOKEN}\nlocations = {{ a = 1 }}\n}}\n".encode())
    assert at(result.errors, "control-plane.locations") == ["locations must be a list, not an object"]
    result = validate(f'control-plane {{\n{TOKEN}\nlocations = ["prl_a"]\n}}\n'.encode())
    assert at(result.errors, LOC0) == ["a location must be an object, not a string"]


@pytest.mark.parametrize(
    "location_id",
    ["aws", "prl_", "prl_Upper", "prl_with-dash", "prl_" + "a" * 27, "PRL_abc", "prl_ünïcode"],
)
def test_location_ids_follow_the_prl_rule(location_id: str) -> None:
    result = validate(config(location(AWS, f'id = "{location_id}"')))
    [message] = at(result.errors, f"{LOC0}.id")
    assert "must be prl_ followed by 1 to 26 of 0-9, a-z and _" in message


def test_the_longest_allowed_location_id_is_valid() -> None:
    assert validate(config(location(AWS, 'id = "prl_' + "a" * 26 + '"'))).valid


def test_location_ids_are_unique() -> None:
    result = validate(config(AWS, AWS))
    assert at(result.errors, "control-plane.locations[1].id") == [
        'id "prl_aws" is already used by locations[0]'
    ]
    assert at(result.errors, f"{LOC0}.id") == []


def test_missing_location_type_is_an_error() -> None:
    result = validate(config(location(AWS, without=("type",))))
    assert at(result.errors, f"{LOC0}.type") == ["missing required key type"]


def test_unknown_location_type_is_an_error_listing_the_allowed_ones() -> None:
    result = validate(config(location(AWS, 'type = "openstack"')))
    assert at(result.errors, f"{LOC0}.type") == [
        'type is "openstack"; allowed values: aws, kubernetes, azure, gcp, dedicated'
    ]


REQUIRED_KEYS = [
    ("aws", "id"),
    ("aws", "region"),
    ("aws", "ami"),
    ("aws", "security-groups"),
    ("aws", "subnets"),
    ("aws", "instance-type"),
    ("kubernetes", "image"),
    ("azure", "region"),
    ("azure", "size"),
    ("azure", "image"),
    ("azure", "subscription"),
    ("azure", "network-id"),
    ("azure", "subnet-name"),
    ("gcp", "zone"),
    ("gcp", "project"),
    ("dedicated", "ssh"),
    ("dedicated", "hosts"),
]


@pytest.mark.parametrize(("kind", "key"), REQUIRED_KEYS)
def test_each_type_requires_its_keys(kind: str, key: str) -> None:
    result = validate(config(location(LOCATIONS[kind], without=(key,))))
    assert at(result.errors, f"{LOC0}.{key}") == [f"missing required key {key}"]


@pytest.mark.parametrize(
    ("kind", "nested", "key"),
    [
        ("aws", "ami { java = latest }", "ami.type"),
        ("kubernetes", "image { java = latest }", "image.type"),
        ("gcp", "machine { image { type = certified }, disk { sizeGb = 20 } }", "machine.type"),
        ("gcp", "machine { type = x, disk { sizeGb = 20 } }", "machine.image"),
        ("gcp", "machine { type = x, image { type = certified } }", "machine.disk"),
        ("gcp", "machine { type = x, image { type = certified }, disk {} }", "machine.disk.sizeGb"),
        ("dedicated", "ssh { private-key { path = /k } }", "ssh.user"),
        ("dedicated", "ssh { user = gatling }", "ssh.private-key"),
        ("dedicated", "ssh { user = gatling, private-key {} }", "ssh.private-key.path"),
    ],
)
def test_nested_required_keys(kind: str, nested: str, key: str) -> None:
    first = nested.split()[0]
    result = validate(config(location(LOCATIONS[kind], nested, without=(first,))))
    assert at(result.errors, f"{LOC0}.{key}") == [f"missing required key {key.rsplit('.', 1)[-1]}"]


def test_missing_key_with_a_near_miss_sibling_says_so() -> None:
    result = validate(config(location(AWS, 'instance_type = "c7i.xlarge"', without=("instance-type",))))
    assert at(result.errors, f"{LOC0}.instance-type") == [
        "missing required key instance-type (found instance_type: a misspelling?)"
    ]
    assert at(result.warnings, f"{LOC0}.instance_type") == [
        "unknown key instance_type (did you mean instance-type?)"
    ]


@pytest.mark.parametrize(
    ("written", "suggested"),
    [("securityGroups", "security-groups"), ("regoin", "region"), ("subnet", "subnets"), ("tag", "tags")],
)
def test_unknown_keys_warn_with_a_suggestion(written: str, suggested: str) -> None:
    result = validate(config(location(AWS, f"{written} = x")))
    assert result.valid
    assert at(result.warnings, f"{LOC0}.{written}") == [f"unknown key {written} (did you mean {suggested}?)"]


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    result = validate(config(location(AWS, "completely-unrelated = 1")))
    assert at(result.warnings, f"{LOC0}.completely-unrelated") == ["unknown key completely-unrelated"]


def test_unknown_nested_keys_warn() -> None:
    result = validate(config(location(AWS, "tags-for { instanse { a = b } }")))
    assert at(result.warnings, f"{LOC0}.tags-for.instanse") == [
        "unknown key instanse (did you mean instance?)"
    ]


# --- value types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ('security-groups = "sg-1"', "security-groups", "security-groups must be a list, not a string"),
        ("subnets = []", "subnets", "subnets must list at least one item"),
        ("subnets = [[a]]", "subnets[0]", "subnets must hold strings, not a list"),
        ("jvm-options = -Xmx4G", "jvm-options", "jvm-options must be a list, not a string"),
        ("region = [eu-west-1]", "region", "region must be a string, not a list"),
        ("ami = certified", "ami", "ami must be an object, not a string"),
        ("tags = [a]", "tags", "tags must be an object, not a list"),
        (
            "auto-associate-public-ipv4 = maybe",
            "auto-associate-public-ipv4",
            'auto-associate-public-ipv4 must be true or false, not "maybe"',
        ),
        ('engine = "jvm"', "engine", 'engine is "jvm"; allowed values: classic, javascript'),
        ('spot = "sometimes"', "spot", 'spot is "sometimes"; allowed values: true, false or "preferred"'),
        ("ami { type = golden }", "ami.type", 'type is "golden"; allowed values: certified, custom'),
        (
            "ami { java = newest }",
            "ami.java",
            'java is "newest"; allowed values: latest or a Java version such as 25',
        ),
    ],
)
def test_aws_value_types(extra: str, path: str, message: str) -> None:
    result = validate(config(location(AWS, extra)))
    assert at(result.errors, f"{LOC0}.{path}") == [message]


@pytest.mark.parametrize(
    "extra",
    [
        "spot = true",
        'spot = "preferred"',
        "spot = false",
        "ami { java = 25 }",
        'engine = "javascript"',
        "auto-associate-public-ipv4 = no",
        'security-groups = ["sg-1", "sg-2"]',
    ],
)
def test_allowed_aws_values(extra: str) -> None:
    result = validate(config(location(AWS, extra)))
    assert result.valid and result.errors == [], result.format_text()


def test_image_type_is_an_enum_for_kubernetes_and_azure() -> None:
    for base in (KUBERNETES, AZURE):
        result = validate(config(location(base, "image { type = prebuilt }")))
        assert at(result.errors, f"{LOC0}.image.type") == [
            'type is "prebuilt"; allowed values: certified, custom'
        ]


def test_numbers_are_numbers() -> None:
    result = validate(config(location(GCP, "machine.disk.sizeGb = large")))
    assert at(result.errors, f"{LOC0}.machine.disk.sizeGb") == ["sizeGb must be a number, not a string"]
    result = validate(config(location(GCP, 'machine.disk.sizeGb = "40"')))
    assert result.valid, "a numeric string is a number to Lightbend's getters"


def test_json_null_on_an_optional_key_means_absent() -> None:
    extra = (
        "iam-instance-profile = null",
        "elastic-ips = null",
        "spot = null",
        "tags = null",
        "ami.id = null",
    )
    result = validate(config(location(AWS, *extra)))
    assert result.valid and result.errors == [] and result.warnings == []


def test_json_null_on_a_required_key_is_missing() -> None:
    result = validate(config(location(AWS, "region = null")))
    assert at(result.errors, f"{LOC0}.region") == ["missing required key region"]


# --- type-specific rules -----------------------------------------------------------------------


def test_custom_ami_needs_an_id() -> None:
    result = validate(config(location(AWS, "ami { type = custom }")))
    assert at(result.errors, f"{LOC0}.ami.id") == ["ami.type = custom needs ami.id (the AMI to launch)"]
    assert validate(config(location(AWS, 'ami { type = custom, id = "ami-0123" }'))).valid


def test_elastic_ips_with_auto_associated_public_ipv4_is_an_error() -> None:
    ips = 'elastic-ips = ["203.0.113.3"]'
    context = DeploymentContext(elastic_ips_configured=True)
    result = validate(config(location(AWS, ips, "auto-associate-public-ipv4 = true")), context)
    assert (
        "cannot be used with auto-associate-public-ipv4 = true" in at(result.errors, f"{LOC0}.elastic-ips")[0]
    )
    assert validate(config(location(AWS, ips, "auto-associate-public-ipv4 = false")), context).valid
    implicit = validate(config(location(AWS, ips)), context)
    assert implicit.valid
    assert "defaults to true" in at(implicit.warnings, f"{LOC0}.elastic-ips")[0]


def test_empty_elastic_ips_with_public_ipv4_is_fine() -> None:
    assert (
        validate(config(location(AWS, "elastic-ips = []", "auto-associate-public-ipv4 = true"))).warnings
        == []
    )


def test_gcp_needs_exactly_one_of_instance_template_or_machine() -> None:
    both = validate(config(location(GCP, 'instance-template = "tpl"')))
    assert at(both.errors, LOC0) == [
        "a gcp location needs exactly one of instance-template or machine, not both"
    ]
    neither = validate(config(location(GCP, without=("machine",))))
    assert at(neither.errors, LOC0) == [
        "a gcp location needs exactly one of instance-template or machine, not neither"
    ]
    template_only = location(GCP, 'instance-template = "tpl"', without=("machine",))
    assert validate(config(template_only)).valid


def test_gcp_custom_image_needs_id_or_family_and_disks_need_20_gb() -> None:
    result = validate(config(location(GCP, "machine.image { type = custom, project = p }")))
    assert at(result.errors, f"{LOC0}.machine.image") == ["a custom image needs id or family"]
    assert validate(config(location(GCP, "machine.image { type = custom, family = f }"))).valid
    small = validate(config(location(GCP, "machine.disk.sizeGb = 10")))
    assert at(small.errors, f"{LOC0}.machine.disk.sizeGb") == ["sizeGb is 10; GCP disks need at least 20"]


@pytest.mark.parametrize("base", [KUBERNETES, AZURE])
def test_custom_images_need_an_image(base: str) -> None:
    result = validate(config(location(base, "image { type = custom }")))
    assert at(result.errors, f"{LOC0}.image.image") == ["a custom image needs image"]
    assert validate(config(location(base, 'image { type = custom, image = "repo/img:1" }'))).valid


def test_dedicated_hosts_empty_and_old_working_directory_warn() -> None:
    result = validate(config(location(DEDICATED, "hosts = []", "working-directory = /tmp")))
    assert result.valid
    assert "cannot run any load generator" in at(result.warnings, f"{LOC0}.hosts")[0]
    assert "older name of executable-dir" in at(result.warnings, f"{LOC0}.working-directory")[0]


def test_dedicated_ssh_port_must_be_a_port() -> None:
    result = validate(config(location(DEDICATED, "ssh.port = 70000")))
    assert at(result.errors, f"{LOC0}.ssh.port") == ["port must be a port number from 1 to 65535, not 70000"]


# --- server and repository ---------------------------------------------------------------------


def test_server_port_must_be_a_port_number() -> None:
    result = validate(config(AWS, root="server { port = http }"))
    assert at(result.errors, "control-plane.server.port") == [
        'port must be a port number from 1 to 65535, not "http"'
    ]


def test_repository_needs_a_known_type_and_aws_needs_a_bucket() -> None:
    result = validate(config(AWS, root="repository { type = ftp }"))
    assert at(result.errors, "control-plane.repository.type") == [
        'type is "ftp"; allowed values: aws, azure, gcp, filesystem'
    ]
    result = validate(config(AWS, root="repository { type = aws }"))
    assert at(result.errors, "control-plane.repository.bucket") == ["missing required key bucket"]
    result = validate(config(AWS, root="repository { type = aws, bucket = b, server-side-encryption = DES }"))
    assert "allowed values: AES256" in at(result.errors, "control-plane.repository.server-side-encryption")[0]


def test_repository_must_be_an_object_with_a_type() -> None:
    result = validate(config(AWS, root="repository = s3"))
    assert at(result.errors, "control-plane.repository") == ["repository must be an object, not a string"]
    result = validate(config(AWS, root="repository { bucket = b }"))
    assert at(result.errors, "control-plane.repository.type") == ["missing required key type"]


# --- deployment context ------------------------------------------------------------------------

FULL_CONTEXT = DeploymentContext(
    token_injected=False,
    pass_role_configured=True,
    elastic_ips_configured=True,
    private_packages_bucket_configured=True,
    server_port=8080,
)

DEPLOYMENT_CASES = [
    pytest.param(
        location(AWS, 'iam-instance-profile = "lg-profile"'),
        "",
        f"{LOC0}.iam-instance-profile",
        {"pass_role_configured": False},
        "PassRole",
        id="instance profile without PassRole",
    ),
    pytest.param(
        location(AWS, 'elastic-ips = ["203.0.113.3"]', "auto-associate-public-ipv4 = false"),
        "",
        f"{LOC0}.elastic-ips",
        {"elastic_ips_configured": False},
        "elastic IP parameter",
        id="elastic IPs without the parameter",
    ),
    pytest.param(
        AWS,
        "repository { type = aws, bucket = packages }",
        "control-plane.repository.bucket",
        {"private_packages_bucket_configured": False},
        "private packages bucket parameter",
        id="private packages without the bucket parameter",
    ),
    pytest.param(
        AWS,
        "server { port = 9090 }",
        "control-plane.server.port",
        {"server_port": 8080},
        "port 8080",
        id="server port differs from the task's",
    ),
    pytest.param(
        AWS,
        'server { certificate { path = "/etc/cert.p12" } }',
        "control-plane.server.certificate.path",
        {},
        "will not exist in the container",
        id="certificate path",
    ),
    pytest.param(
        location(DEDICATED, 'ssh.private-key.path = "/home/gatling/.ssh/id_rsa"'),
        "",
        f"{LOC0}.ssh.private-key.path",
        {},
        "will not exist in the container",
        id="ssh private key path",
    ),
    pytest.param(
        AWS,
        'enterprise-cloud.proxy.truststore.path = "/certs/proxy.pem"',
        "control-plane.enterprise-cloud.proxy.truststore.path",
        {},
        "will not exist in the container",
        id="truststore path",
    ),
    pytest.param(
        AWS,
        'enterprise-cloud.proxy.keystore.path = "/app/conf/control-plane.conf.jks"',
        "control-plane.enterprise-cloud.proxy.keystore.path",
        {},
        "JKS",
        id="JKS keystore",
    ),
]


@pytest.mark.parametrize(("loc", "root", "path", "missing", "words"), DEPLOYMENT_CASES)
def test_deployment_findings_warn_without_context_and_fail_with_it(
    loc: str, root: str, path: str, missing: dict[str, object], words: str
) -> None:
    data = config(loc, root=root)
    without_context = validate(data)
    assert without_context.valid
    assert any(words in message for message in at(without_context.warnings, path)), (
        without_context.format_text()
    )
    with_context = validate(data, msgspec.structs.replace(FULL_CONTEXT, **missing))
    assert not with_context.valid
    assert any(words in message for message in at(with_context.errors, path)), with_context.format_text()


@pytest.mark.parametrize(
    ("loc", "root", "context"),
    [
        (location(AWS, 'iam-instance-profile = "lg-profile"'), "", FULL_CONTEXT),
        (
            location(AWS, 'elastic-ips = ["203.0.113.3"]', "auto-associate-public-ipv4 = false"),
            "",
            FULL_CONTEXT,
        ),
        (AWS, "repository { type = aws, bucket = packages }", FULL_CONTEXT),
        (AWS, "server { port = 9090 }", msgspec.structs.replace(FULL_CONTEXT, server_port=9090)),
        (
            AWS,
            "repository { type = aws, bucket = b, server { port = 9090 } }",
            msgspec.structs.replace(FULL_CONTEXT, server_port=9090),
        ),
    ],
    ids=["instance profile", "elastic IPs", "private packages", "server port", "old server block"],
)
def test_deployment_findings_disappear_when_the_stack_provides_what_is_needed(
    loc: str, root: str, context: DeploymentContext
) -> None:
    result = validate(config(loc, root=root), context)
    assert result.valid and result.warnings == [], result.format_text()


def test_old_repository_server_block_is_checked_for_the_port() -> None:
    result = validate(
        config(AWS, root="repository { type = aws, bucket = b, server.port = 9090 }"), FULL_CONTEXT
    )
    assert "port 8080" in at(result.errors, "control-plane.repository.server.port")[0]
