variable "environment" {
  description = "staging or production: names everything and matches the Kubernetes overlay and namespace (justmaily-<environment>)."
  type        = string
  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment is staging or production."
  }
}

variable "region" {
  description = "AWS region; the same as the SecretStore's in the Kubernetes overlay."
  type        = string
  default     = "eu-central-1"
}

variable "availability_zones" {
  description = "Two or three zones: the database is Multi-AZ and the subnets span them."
  type        = list(string)
  default     = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
}

variable "app_vpc_cidr" {
  description = "The application VPC (the EKS cluster's nodes and pods)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "database_vpc_cidr" {
  description = "The database VPC; the overlay's `to-database` NetworkPolicy names the same range."
  type        = string
  default     = "10.20.0.0/16"
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "eks_oidc_issuer" {
  description = "The cluster's OIDC issuer without https:// (oidc.eks.<region>.amazonaws.com/id/<id>)."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial storage; it grows on its own up to ten times this."
  type        = number
  default     = 100
}

variable "backup_retention_days" {
  description = "Automated backups kept (point-in-time recovery reaches back this far)."
  type        = number
  default     = 14
}

variable "secret_rotation_days" {
  description = "How often the application's database password is rotated."
  type        = number
  default     = 30
}
