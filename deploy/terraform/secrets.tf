# The secrets the cluster reads through External Secrets (deploy/kubernetes/base/secrets.yaml).
# Terraform makes the containers, never the values: no secret reaches the Terraform state.
# deploy/runbooks/deploy.md puts the first values in.

# The application's database role: {username, password, engine, host, port, dbname, masterarn},
# the shape AWS's rotation functions use. Rotated every `secret_rotation_days` by the
# alternating-users function, so a password in use stays valid until the replicas have
# re-read the secret.
resource "aws_secretsmanager_secret" "database" {
  name        = "justmaily/${var.environment}/database"
  description = "JustMaily's PostgreSQL role (External Secrets builds the settings file from it)"
  kms_key_id  = aws_kms_key.this["secrets"].arn
}

resource "aws_secretsmanager_secret_rotation" "database" {
  secret_id           = aws_secretsmanager_secret.database.id
  rotation_lambda_arn = aws_serverlessapplicationrepository_cloudformation_stack.rotation.outputs["RotationLambdaARN"]

  rotation_rules {
    automatically_after_days = var.secret_rotation_days
  }
}

# AWS's own PostgreSQL "alternating users" rotation function, from the Serverless Application
# Repository, inside the database VPC.
data "aws_serverlessapplicationrepository_application" "rotation" {
  application_id = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationMultiUser"
}

resource "aws_serverlessapplicationrepository_cloudformation_stack" "rotation" {
  name             = "${local.name}-database-rotation"
  application_id   = data.aws_serverlessapplicationrepository_application.rotation.application_id
  semantic_version = data.aws_serverlessapplicationrepository_application.rotation.semantic_version
  capabilities     = data.aws_serverlessapplicationrepository_application.rotation.required_capabilities

  parameters = {
    endpoint            = "https://secretsmanager.${var.region}.amazonaws.com"
    functionName        = "${local.name}-database-rotation"
    kmsKeyArn           = aws_kms_key.this["secrets"].arn
    vpcSubnetIds        = join(",", aws_subnet.database[*].id)
    vpcSecurityGroupIds = aws_security_group.rotation.id
  }
}

# The key files every replica shares (JWT, sealing, link tokens, transparency log, CA): one JSON
# object, a property per file.
resource "aws_secretsmanager_secret" "keys" {
  #checkov:skip=CKV2_AWS_57:Not rotated on a timer: a new JWT key signs everyone out, a new sealing key must re-seal stored relay passwords, and the log and CA keys are pinned by clients; each is a planned ceremony (deploy/runbooks/troubleshooting.md)
  name        = "justmaily/${var.environment}/keys"
  description = "JustMaily's key files, mounted read-only as the data folder"
  kms_key_id  = aws_kms_key.this["secrets"].arn
}
