# One customer-managed key per kind of data, rotated yearly: the database (storage, snapshots,
# Performance Insights), the secrets, and the backups and logs.
locals {
  name          = "justmaily-${var.environment}"
  account_root  = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  kms_key_names = toset(["database", "secrets", "backups"])
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself, and its principals are the account and CloudWatch Logs (for log groups of this environment)
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself, not every resource
  #checkov:skip=CKV_AWS_109:The account administers its own keys (AWS's default key policy); IAM policies then grant each role only the keys it uses
  for_each = local.kms_key_names

  # The account administers and uses its keys through IAM policies (the roles below name each
  # key they may use); CloudWatch Logs may use the backups key for the flow logs.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  dynamic "statement" {
    for_each = each.key == "backups" ? [1] : []
    content {
      sid       = "CloudWatchLogs"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["logs.${var.region}.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/justmaily/${var.environment}/*"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = local.kms_key_names

  description             = "${local.name} ${each.key}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[each.key].json
}

resource "aws_kms_alias" "this" {
  for_each = local.kms_key_names

  name          = "alias/${local.name}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
