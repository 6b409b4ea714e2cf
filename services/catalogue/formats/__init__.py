"""The catalogue's record formats.

Readers for MARC 21, MARCXML, ONIX 3.0 and KBART, and the conversions to MARC 21.
"""
