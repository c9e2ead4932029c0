"""Wire contracts: one module per domain, a topic registry and the one codec.

Import models from their domain module (``tars.contracts.stt`` ...) and use
``tars.contracts.codec.encode`` / ``decode`` to cross the wire.
"""
