"""Engagement: what recipients and providers report back about sent messages (opens, clicks,
unsubscribes, confirmations, bounces and complaints through provider webhooks) and what follows
from it (suppression). Analytics lands here."""
