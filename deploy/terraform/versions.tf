# JustMaily's AWS infrastructure for one environment (staging or production): the application
# VPC peered to a database VPC, RDS PostgreSQL, the secrets External Secrets reads and their
# rotation, IAM roles for service accounts, and the encrypted backup bucket. One state per
# environment: `terraform workspace select staging` (deploy/README.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "justmaily"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
