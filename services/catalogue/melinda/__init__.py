"""The Melinda union catalogue.

The REST client, resumable export jobs, their store and the record adapter.
"""
