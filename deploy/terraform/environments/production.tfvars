# terraform workspace select production && terraform apply -var-file=environments/production.tfvars
# The networks match deploy/kubernetes/overlays/production (to-database, JUSTMAILY_TRUSTED_PROXIES).
environment           = "production"
app_vpc_cidr          = "10.0.0.0/16"
database_vpc_cidr     = "10.20.0.0/16"
backup_retention_days = 35
eks_oidc_provider_arn = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/PRODUCTION"
eks_oidc_issuer       = "oidc.eks.eu-central-1.amazonaws.com/id/PRODUCTION"
