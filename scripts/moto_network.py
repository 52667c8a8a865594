"""Gives an Environment a network and secrets that exist in moto.

Finds or creates, in the moto server at ENDPOINT, a VPC tagged `plumb-quickstart` with two
subnets and a security group, then writes the Environment read from SOURCE to TARGET with
`spec.network` naming them (moto checks that a service's subnets and groups exist), each
data store on that network's security group, every secret the data tier reads (the
database's master password, the Redis AUTH token, the broker's password) replaced by one
made in moto with a random value, and `spec.policy.resyncSeconds` set to RESYNC when given.
Also finds or creates an SNS topic for alerts with an SQS queue subscribed to it, and prints
the topic's ARN and the queue's URL.

    python scripts/moto_network.py ENDPOINT REGION SOURCE TARGET [RESYNC]
"""

import secrets
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


def secret(sm, arn):
    """A secret in moto named as the one ARN names (without its random suffix); its ARN."""
    name = arn.split(":secret:", 1)[-1].rsplit("-", 1)[0]
    found = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    if found:
        return found[0]["ARN"]
    return sm.create_secret(Name=name, SecretString=secrets.token_urlsafe(24))["ARN"]


def data_tier(env, sm):
    spec = env["spec"]
    for component in ("postgres", "redis", "rabbitmq"):
        if component in spec:
            spec[component].pop("securityGroups", None)
    password = spec.get("postgres", {}).get("masterPassword", {})
    if password.get("secretArn"):
        password["secretArn"] = secret(sm, password["secretArn"])
    if spec.get("redis", {}).get("authTokenSecretArn"):
        spec["redis"]["authTokenSecretArn"] = secret(sm, spec["redis"]["authTokenSecretArn"])
    if spec.get("rabbitmq", {}).get("passwordSecretArn"):
        spec["rabbitmq"]["passwordSecretArn"] = secret(
            sm, spec["rabbitmq"]["passwordSecretArn"]
        )


def alerts(sns, sqs):
    """The alert topic and the URL of a queue that receives what it publishes."""
    topic = sns.create_topic(Name=f"{NAME}-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{NAME}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    subscribed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    if not any(s["Endpoint"] == queue_arn for s in subscribed):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def main():
    endpoint, region, source, target = sys.argv[1:5]
    def client(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    subnets, group = network(client("ec2"))
    with open(source) as f:
        env = yaml.safe_load(f)
    env["spec"]["network"] = {"subnets": subnets, "securityGroups": [group]}
    data_tier(env, client("secretsmanager"))
    if len(sys.argv) > 5:
        env["spec"].setdefault("policy", {})["resyncSeconds"] = int(sys.argv[5])
    with open(target, "w") as f:
        yaml.safe_dump(env, f, sort_keys=False)
    topic, queue = alerts(client("sns"), client("sqs"))
    print(topic, queue)


if __name__ == "__main__":
    main()
