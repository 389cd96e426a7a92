# IAM roles for service accounts (IRSA). Only External Secrets' account in the environment's
# namespace may take the secrets role, and it may read these two secrets and nothing else. The
# server's own account has no AWS role: it never calls AWS.
locals {
  namespace = "justmaily-${var.environment}"
}

data "aws_iam_policy_document" "external_secrets_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:sub"
      values   = ["system:serviceaccount:${local.namespace}:justmaily-secrets"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid       = "ReadTheEnvironmentsSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.database.arn, aws_secretsmanager_secret.keys.arn]
  }
  statement {
    sid       = "DecryptThemThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this["secrets"].arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "external_secrets" {
  name               = "${local.name}-external-secrets"
  assume_role_policy = data.aws_iam_policy_document.external_secrets_trust.json
}

resource "aws_iam_role_policy" "external_secrets" {
  role   = aws_iam_role.external_secrets.id
  policy = data.aws_iam_policy_document.external_secrets.json
}

# RDS exports snapshots to the backup bucket (runbooks/rollback.md: a copy outside RDS).
data "aws_iam_policy_document" "snapshot_export_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["export.rds.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "snapshot_export" {
  statement {
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/snapshots/*"]
  }
  statement {
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = [aws_kms_key.this["backups"].arn]
  }
}

resource "aws_iam_role" "snapshot_export" {
  name               = "${local.name}-snapshot-export"
  assume_role_policy = data.aws_iam_policy_document.snapshot_export_trust.json
}

resource "aws_iam_role_policy" "snapshot_export" {
  role   = aws_iam_role.snapshot_export.id
  policy = data.aws_iam_policy_document.snapshot_export.json
}
