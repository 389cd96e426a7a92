"""Campaigns: the e-mails a team writes, reviews, approves and sends."""
