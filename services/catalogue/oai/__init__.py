"""The OAI-PMH 2.0 repository.

The protocol (verbs, errors, resumption tokens) and its view of the store.
"""
