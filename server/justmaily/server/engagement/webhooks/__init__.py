"""Provider webhooks: prove a bounce or complaint report came from SendGrid (`sendgrid.py`) or
Amazon SES through SNS (`ses.py`), then normalise it (`common.py`).

A forged report would let anyone suppress our subscribers, so nothing here returns an event
before the request's signature checks out. Parsing is strict about structure and lenient about
vocabulary: an unknown event type is skipped, a known one missing its fields rejects the request
with a reason.
"""
