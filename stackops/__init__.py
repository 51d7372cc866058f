"""Operations a platform engineer runs against deployed stacks, on the sandbox and on AWS alike.

``python -m stackops compare ...`` (cost; observability follows) and, later, ``trace``, ``redrive`` and
``chargeback``. ``sandbox/`` stays the emulator; this package only reads what a stack did.
"""
