"""Lambda business code shared by both architectures.

The Lambda code asset is this package; handlers are named ``functions.<module>.handler``.
"""
