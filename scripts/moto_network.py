"""Gives an Environment a network that exists in moto.

Finds or creates, in the moto server at ENDPOINT, a VPC tagged `plumb-quickstart` with two
subnets and a security group, then writes the Environment read from SOURCE to TARGET with
`spec.network` naming them (moto checks that a service's subnets and groups exist), and
with `spec.policy.resyncSeconds` set to RESYNC when given.

    python scripts/moto_network.py ENDPOINT REGION SOURCE TARGET [RESYNC]
"""

import sys

import boto3
import yaml

NAME = "plumb-quickstart"


def network(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]
    if vpcs:
        vpc = vpcs[0]["VpcId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": NAME}])
    in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=in_vpc)["Subnets"]]
    for cidr in ["10.0.11.0/24", "10.0.12.0/24"][len(subnets):]:
        subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])
    groups = ec2.describe_security_groups(
        Filters=in_vpc + [{"Name": "group-name", "Values": [NAME]}]
    )["SecurityGroups"]
    if groups:
        group = groups[0]["GroupId"]
    else:
        group = ec2.create_security_group(
            GroupName=NAME, Description="Plumb quick start services", VpcId=vpc
        )["GroupId"]
    return sorted(subnets), group


def main():
    endpoint, region, source, target = sys.argv[1:5]
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    subnets, group = network(ec2)
    with open(source) as f:
        env = yaml.safe_load(f)
    env["spec"]["network"] = {"subnets": subnets, "securityGroups": [group]}
    if len(sys.argv) > 5:
        env["spec"].setdefault("policy", {})["resyncSeconds"] = int(sys.argv[5])
    with open(target, "w") as f:
        yaml.safe_dump(env, f, sort_keys=False)


if __name__ == "__main__":
    main()
