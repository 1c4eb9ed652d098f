"""codegen: spec/ -> generated/. Run as `python -m codegen`; never imported at runtime."""
