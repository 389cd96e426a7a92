# What the Kubernetes overlay needs (deploy/README.md says where each goes).
output "external_secrets_role_arn" {
  description = "The justmaily-secrets ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = aws_iam_role.external_secrets.arn
}

output "database_endpoint" {
  description = "host:port of PostgreSQL; goes into the database secret's host and port."
  value       = aws_db_instance.this.endpoint
}

output "database_vpc_cidr" {
  description = "The to-database NetworkPolicy's ipBlock."
  value       = aws_vpc.database.cidr_block
}

output "database_secret_arn" {
  description = "The application's database secret (rotated)."
  value       = aws_secretsmanager_secret.database.arn
}

output "master_user_secret_arn" {
  description = "RDS's own secret for the master user (for creating the application role)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "keys_secret_arn" {
  description = "The key files' secret."
  value       = aws_secretsmanager_secret.keys.arn
}

output "backup_bucket" {
  description = "Where snapshot exports and logical dumps go."
  value       = aws_s3_bucket.backups.bucket
}

output "snapshot_export_role_arn" {
  description = "The role `aws rds start-export-task` takes."
  value       = aws_iam_role.snapshot_export.arn
}
