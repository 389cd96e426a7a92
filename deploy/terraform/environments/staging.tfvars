# terraform workspace select staging && terraform apply -var-file=environments/staging.tfvars
# The networks match deploy/kubernetes/overlays/staging (to-database, JUSTMAILY_TRUSTED_PROXIES).
environment             = "staging"
app_vpc_cidr            = "10.1.0.0/16"
database_vpc_cidr       = "10.21.0.0/16"
db_instance_class       = "db.t4g.medium"
db_allocated_storage_gb = 20
backup_retention_days   = 7
eks_oidc_provider_arn   = "arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/STAGING"
eks_oidc_issuer         = "oidc.eks.eu-central-1.amazonaws.com/id/STAGING"
