# Two VPCs: the application's (EKS) and the database's, joined by a peering that carries only
# PostgreSQL (the database security group admits the application VPC on 5432 alone).
resource "aws_vpc" "app" {
  cidr_block           = var.app_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name}-app" }
}

resource "aws_vpc" "database" {
  cidr_block           = var.database_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name}-database" }
}

resource "aws_subnet" "app_private" {
  count = length(var.availability_zones)

  vpc_id            = aws_vpc.app.id
  availability_zone = var.availability_zones[count.index]
  cidr_block        = cidrsubnet(var.app_vpc_cidr, 4, count.index)
  tags              = { Name = "${local.name}-app-private-${count.index}", "kubernetes.io/role/internal-elb" = "1" }
}

resource "aws_subnet" "database" {
  count = length(var.availability_zones)

  vpc_id            = aws_vpc.database.id
  availability_zone = var.availability_zones[count.index]
  cidr_block        = cidrsubnet(var.database_vpc_cidr, 4, count.index)
  tags              = { Name = "${local.name}-database-${count.index}" }
}

resource "aws_route_table" "app_private" {
  vpc_id = aws_vpc.app.id
  tags   = { Name = "${local.name}-app-private" }
}

resource "aws_route_table" "database" {
  vpc_id = aws_vpc.database.id
  tags   = { Name = "${local.name}-database" }
}

resource "aws_route_table_association" "app_private" {
  count = length(var.availability_zones)

  subnet_id      = aws_subnet.app_private[count.index].id
  route_table_id = aws_route_table.app_private.id
}

resource "aws_route_table_association" "database" {
  count = length(var.availability_zones)

  subnet_id      = aws_subnet.database[count.index].id
  route_table_id = aws_route_table.database.id
}

resource "aws_vpc_peering_connection" "app_to_database" {
  vpc_id      = aws_vpc.app.id
  peer_vpc_id = aws_vpc.database.id
  auto_accept = true # same account and region
  tags        = { Name = "${local.name}-app-to-database" }
}

resource "aws_route" "app_to_database" {
  route_table_id            = aws_route_table.app_private.id
  destination_cidr_block    = var.database_vpc_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.app_to_database.id
}

resource "aws_route" "database_to_app" {
  route_table_id            = aws_route_table.database.id
  destination_cidr_block    = var.app_vpc_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.app_to_database.id
}

# No traffic through either VPC's default security group.
resource "aws_default_security_group" "app" {
  vpc_id = aws_vpc.app.id
}

resource "aws_default_security_group" "database" {
  vpc_id = aws_vpc.database.id
}

# Flow logs of both VPCs, kept a year, encrypted.
resource "aws_cloudwatch_log_group" "flow_logs" {
  for_each = { app = aws_vpc.app.id, database = aws_vpc.database.id }

  name              = "/justmaily/${var.environment}/flow-logs/${each.key}"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.this["backups"].arn
}

resource "aws_flow_log" "this" {
  for_each = { app = aws_vpc.app.id, database = aws_vpc.database.id }

  vpc_id          = each.value
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs[each.key].arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

data "aws_iam_policy_document" "flow_logs_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [for group in aws_cloudwatch_log_group.flow_logs : "${group.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_trust.json
}

resource "aws_iam_role_policy" "flow_logs" {
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# The rotation function runs in the database VPC, which has no route to the internet: it reaches
# Secrets Manager through this endpoint.
resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "Secrets Manager endpoint in the database VPC"
  vpc_id      = aws_vpc.database.id

  ingress {
    description = "HTTPS from the database VPC (the rotation function)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.database_vpc_cidr]
  }
}

resource "aws_vpc_endpoint" "secretsmanager" {
  vpc_id              = aws_vpc.database.id
  service_name        = "com.amazonaws.${var.region}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.database[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
}
