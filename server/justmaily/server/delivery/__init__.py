"""Delivery: rendering, signing and sending the approved campaign, and what happens to each message."""
