"""The offline agents, one module per kind, each a pure function from an e-mail to a report
(`catalogue.py` names them and their cards)."""
