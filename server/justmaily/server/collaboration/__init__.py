"""Collaboration: one Yjs room per campaign, its durable update log, tickets and the REST bridge."""
