"""gdwi: the hand-written runtime around the generated contract.

The generated layer (generated/) holds models, stubs and the registry, all
derived from spec/. This package adds what is not per-function: the CLI now,
and (as later issues land) the codec, transport, session, journal, mock
province and HIS layer. It never imports codegen/.
"""

__all__: list[str] = []
