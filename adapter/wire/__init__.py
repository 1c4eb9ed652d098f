"""The wire core: codec, validation, transport, session, journal, client, settings, masking.

Everything here speaks the province's XML protocol and knows nothing of the HIS, the gateway
or the mock. It reads the contract only through generated/.
"""
