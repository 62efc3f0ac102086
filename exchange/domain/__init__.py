"""Framework-free core of Liaison: fiche and accompaniment rules, consent, vocabulary.

Imports only the Python standard library, so that it is tested without Flask or a database.
"""
